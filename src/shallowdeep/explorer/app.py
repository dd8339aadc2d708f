"""The explorer's web application: one page and a small JSON API under ``/api/`` (FastAPI).

Everything a request may name is checked against what the server set up at start: runs by their
opaque keys (:mod:`shallowdeep.explorer.catalog`), test rows and classes by range. Nothing from a
request is joined to a filesystem path, the page and its script are served from memory, request
bodies are capped (413) and images are decoded under a pixel limit. Only this computer's names are
answered (400 otherwise: DNS rebinding), and only the explorer's own page and scripts (403 for a
page of another site, as Jupyter's server refuses it). A bad request gets a 4xx with
a sentence saying what was wrong (``{"detail": "..."}``), and the server goes on serving.

The API is described by FastAPI's OpenAPI document (``/openapi.json``, browsable at ``/docs``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from shallowdeep.data.images import MAX_PIXELS, read_gray_image
from shallowdeep.errors import DataError
from shallowdeep.explorer.catalog import Entry, catalog
from shallowdeep.explorer.digits import DigitModels
from shallowdeep.explorer.mistakes import Mistakes, Unavailable
from shallowdeep.explorer.xrays import XrayModel
from shallowdeep.runs import Run
from shallowdeep.version import __version__

#: The largest request body accepted: a 3,000 x 3,000 chest X-ray is 2 to 10 MB as JPEG or PNG.
MAX_BODY_BYTES = 20 * 1024 * 1024
#: A drawing of a digit needs far fewer pixels than a photo; a digit image over this is refused.
MAX_DIGIT_PIXELS = 4_000_000
#: The names a request may call this computer by when the server listens on loopback (any port);
#: a browser writes IPv6 in brackets (``[::1]:8000``), some clients send it bare.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
#: The addresses that listen on every interface: the server may be called by any of the computer's names.
EVERY_INTERFACE = ("0.0.0.0", "::", "")
#: The page's files, served from memory.
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
           "/explorer.css": ("explorer.css", "text/css; charset=utf-8")}
#: The page may load its own script, style and pictures, and talk to this server only.
_PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}},
}}}


class _BodyTooLarge(Exception):
    """Raised into the application by :class:`BodyLimit`'s ``receive`` once the body passes the cap."""


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413, whether it announces its length
    (refused before it is read) or streams it in chunks (refused when the total passes the cap).

    A streamed body is cut off by raising from ``receive``, so no more than the cap is ever held.
    The 413 is answered here, not left to the application: code between here and the endpoint
    that catches the error (a form parser, FastAPI's body parsing) or answers for the cut-short
    body it was left with (a 422 "not an image") must not decide the answer, so once the cap is
    passed every later ``receive`` raises again and whatever the application sends is dropped.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self) -> JSONResponse:
        return JSONResponse({"detail": f"the request body is larger than {self.max_bytes:,} bytes, the most this "
                                       f"server accepts; send a smaller image (shrink it or save it as JPEG)"},
                            status_code=413)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit():
            await JSONResponse({"detail": "the Content-Length header is not a number"}, 400)(scope, receive, send)
            return
        if int(length) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        received, too_large, started = 0, False, False

        async def counted_receive():
            nonlocal received, too_large
            if too_large:
                raise _BodyTooLarge
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                too_large = True
                raise _BodyTooLarge
            return message

        async def guarded_send(message):
            nonlocal started
            if too_large and not started:
                return  # the answer is the 413 below, whatever the application made of the cut-short body
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _BodyTooLarge:
            if started:
                raise  # a response already under way cannot become a 413: the server closes the connection
        if too_large and not started:
            await self._too_large()(scope, receive, send)


class HostCheck:
    """ASGI middleware: a request whose ``Host`` header is not one of ``allowed_hosts`` (with any
    port, or none; ``"*"`` allows every name) gets 400. A page of another site whose name was made
    to point at this computer (DNS rebinding) sends its own name, and is refused.

    Not Starlette's ``TrustedHostMiddleware``: in older Starlette versions that this project allows
    it reads the name up to the first colon (``[`` for ``[::1]:8000``), and it refuses a bare ``::1``.
    """

    def __init__(self, app, allowed_hosts: Sequence[str]):
        self.app, self.allowed_hosts = app, list(allowed_hosts)
        names = "|".join(re.escape(name) for name in self.allowed_hosts)
        self._pattern = None if "*" in self.allowed_hosts else re.compile(rf"(?:{names})(?::[0-9]+)?", re.IGNORECASE)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self._pattern is None:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if not self._pattern.fullmatch(host):
            detail = (f"this server does not answer to the name {_shown(host)} (the Host header), only to "
                      f"{', '.join(self.allowed_hosts)}: a page of another site cannot reach it under a name of its own")
            await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _site(url: str) -> tuple[str, str, int | None] | None:
    """The scheme, host and port (the default one if none is written) of a URL or an origin; None
    for what names no site: an opaque origin (``null``, sent by a sandboxed or local page), garbage."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    return (parts.scheme, parts.hostname, port) if parts.scheme and parts.hostname else None


class SameOrigin:
    """ASGI middleware: a request sent by a page of another site gets 403, as Jupyter's server
    refuses them; the explorer answers its own page, and scripts.

    A browser names the site of the page behind a request in its ``Origin`` header (every
    cross-site ``fetch`` and form post) or, in older browsers, only in ``Referer``. The site must be
    the server's own: the request's scheme and ``Host`` (the page's script sends its own Origin,
    and no Referer: ``Referrer-Policy: no-referrer``). A request with neither header is no page's
    (curl, Python) and passes.

    ``Origin`` is checked on every method: a GET that carries one is a script of another site that
    could read the answer (the runs, whether an explorer runs at all), and the page never needs
    that. ``Referer`` is checked on every method but GET and HEAD: a GET with a foreign Referer and
    no Origin is a link followed to the page (from a notebook at localhost:8888 that printed its
    address), which changes nothing and whose answer no other page can read.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        own = f"{scope['scheme']}://{headers.get('host', '')}"
        header, sender = "Origin", headers.get("origin")
        if sender is None and scope["method"] not in ("GET", "HEAD"):
            header, sender = "Referer", headers.get("referer")
        if sender is not None and (_site(sender) is None or _site(sender) != _site(own)):
            detail = (f"the explorer only answers its own page, {own}/: this request comes from "
                      f"{_shown(sender)} (its {header} header); open {own}/ itself, or send the request from "
                      f"a script (curl, Python), which names no page")
            await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class Explorer:
    """The runs, their keys, and everything loaded once for them: models, features, test images."""

    entries: list[Entry]
    digits: DigitModels
    xrays: dict[str, XrayModel]
    mistakes: Mistakes

    @classmethod
    def load(cls, runs: Sequence[Run], data_dir: str | os.PathLike | None = None) -> Explorer:
        entries = catalog(runs)
        return cls(entries, DigitModels([entry for entry in entries if entry.is_digit_model]),
                   {entry.key: XrayModel(entry) for entry in entries if entry.is_xray_model},
                   Mistakes(entries, data_dir))

    def entry(self, key: str) -> Entry:
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise HTTPException(404, f"no run {_shown(key)} here; the runs are {', '.join(e.key for e in self.entries)} "
                                 f"(GET /api/runs)")

    def describe(self, entry: Entry) -> dict[str, Any]:
        run, experiment = entry.run, entry.run.experiment
        return {
            "key": entry.key, "label": entry.label, "name": run.name, "description": experiment["description"],
            "dataset": experiment.dataset, "family": entry.family, "input": experiment.describe_input(),
            "classes": list(experiment.class_names), "params": run.metrics.get("params"),
            "test_accuracy": run.metrics["test"]["accuracy"], "digits": entry.is_digit_model,
            "xray": entry.is_xray_model,
            "inside": self.digits.inside_kind(entry.key) if entry.is_digit_model else None,
        }


def _shown(value: str) -> str:
    """A request's value quoted for an error message, cut short: the message must stay one line."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


async def _image_bytes(request: Request) -> bytes:
    """The image a request carries: its whole body, or the first file of a form upload."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=1)
        files = [value for value in form.values() if hasattr(value, "read")]
        if not files:
            raise HTTPException(422, "the form has no file; upload the image as a file field (e.g. "
                                     "`curl -F image=@xray.jpeg ...`)")
        return await files[0].read()
    return await request.body()


def _decode(payload: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The request's image as grey levels; a 422 naming what is wrong with it otherwise."""
    try:
        return read_gray_image(payload, name="the uploaded image", max_pixels=max_pixels)
    except DataError as error:
        raise HTTPException(422, str(error)) from None


def accepted_hosts(host: str) -> list[str]:
    """The ``Host`` headers to accept (each with any port) when listening on ``host``: this
    computer's loopback names and ``host`` itself, so that a web page cannot reach the server under
    a name of its own (DNS rebinding). Every name (``["*"]``) only when listening on every interface
    (``0.0.0.0``, ``::``), where the computer's other names and addresses reach the server too."""
    if host in EVERY_INTERFACE:
        return ["*"]
    own = [f"[{host}]", host] if ":" in host else [host]
    return list(dict.fromkeys([*LOOPBACK_HOSTS, *own]))


def create_app(runs: Sequence[Run], *, data_dir: str | os.PathLike | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> FastAPI:
    """The explorer's application over finished ``runs``: every model is loaded (``safe_mode``),
    compiled and warmed up, and the test images of their datasets read, before it returns."""
    explorer = Explorer.load(runs, data_dir)
    static = {path: (resources.files("shallowdeep.explorer").joinpath("static", name).read_bytes(), media)
              for path, (name, media) in _STATIC.items()}
    app = FastAPI(title="shallowdeep explore", version=__version__,
                  description="Draw a digit and see every MNIST run answer; look inside the networks; browse each "
                              "run's test mistakes; ask a chest X-ray run about an image, with Grad-CAM.")
    app.state.explorer = explorer

    async def not_found(scope, receive, send):
        """What the router answers for a path no route has (instead of a bare "Not Found")."""
        detail = f"nothing at {scope['method']} {_shown(scope['path'])}: the page is /, the API's paths are at /docs"
        await JSONResponse({"detail": detail}, status_code=404)(scope, receive, send)

    app.router.default = not_found
    # The last added runs first: a request is checked for where it comes from before its body is read.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SameOrigin)
    app.add_middleware(HostCheck, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.url.path in static:
            response.headers["Content-Security-Policy"] = _PAGE_POLICY
        return response

    def page_file(path: str):
        body, media = static[path]
        return lambda: Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    for path in static:
        app.add_api_route(path, page_file(path), methods=["GET"], include_in_schema=False)

    @app.get("/api/runs")
    def list_runs() -> list[dict[str, Any]]:
        """The runs this server shows, by key: name, dataset, model family, classes, test accuracy,
        whether they answer drawings (``digits``) or X-rays (``xray``), what can be seen inside."""
        return [explorer.describe(entry) for entry in explorer.entries]

    @app.post("/api/digit", openapi_extra=_IMAGE_BODY)
    async def read_digit(request: Request, inside: str | None = Query(
            None, description="the key of one MNIST run whose insides to show (HOG glyphs, feature maps)")):
        """Every MNIST run's ten probabilities for an image of one digit (PNG or JPEG, light or dark ink,
        any size), normalised as MNIST's digits were first; ``image`` is the 28 x 28 the models saw."""
        if inside is not None and not explorer.entry(inside).is_digit_model:
            raise HTTPException(422, f"run {_shown(inside)} does not read digits; choose an MNIST run")
        drawing = _decode(await _image_bytes(request), MAX_DIGIT_PIXELS)
        reading = await run_in_threadpool(explorer.digits.read, drawing)
        answer: dict[str, Any] = {
            "image": reading.image.tolist(), "empty": reading.empty, "inverted": reading.inverted,
            "milliseconds": round(reading.milliseconds, 2),
            "answers": [{"run": entry.key, "predicted": entry.run.experiment.class_names[int(p.argmax())],
                         "probabilities": [float(x) for x in p]}
                        for entry, p in zip(explorer.digits.entries, reading.probabilities)],
        }
        if inside is not None and not reading.empty:
            answer["inside"] = await run_in_threadpool(explorer.digits.inside, inside, reading.image)
        return answer

    @app.get("/api/runs/{key}/confusion")
    def confusion(key: str):
        """The run's test confusion matrix (rows: true class, columns: predicted) and its classes."""
        return explorer.mistakes.confusion(explorer.entry(key).key)

    @app.get("/api/runs/{key}/cell")
    def cell(key: str, true: int = Query(description="the true class, a row of the matrix (0-based)"),
             predicted: int = Query(description="the predicted class, a column (0-based)")):
        """The test images of one cell of the confusion matrix, most confident answers first, with the
        run's probabilities; ``count`` equals the cell's number."""
        entry = explorer.entry(key)
        try:
            return explorer.mistakes.cell(entry.key, true, predicted)
        except IndexError as error:
            raise HTTPException(422, str(error)) from None
        except Unavailable as error:
            raise HTTPException(409, str(error)) from None

    @app.get("/api/runs/{key}/test-images/{row}.png", response_class=Response)
    def test_image(key: str, row: int):
        """Test image ``row`` (a row of the run's stored predictions) as a PNG."""
        entry = explorer.entry(key)
        try:
            return Response(explorer.mistakes.image_png(entry.key, row), media_type="image/png",
                            headers={"Cache-Control": "max-age=3600"})
        except IndexError as error:
            raise HTTPException(404, str(error)) from None
        except Unavailable as error:
            raise HTTPException(409, str(error)) from None

    @app.post("/api/xray", openapi_extra=_IMAGE_BODY)
    async def read_xray(request: Request, run: str = Query(description="the key of a chest X-ray run")):
        """P(pneumonia) for a chest X-ray (PNG or JPEG, any size), the verdict at the run's validation
        threshold, and the Grad-CAM heat map of the verdict's class over the image the model saw."""
        if run not in explorer.xrays:
            known = ", ".join(explorer.xrays) or "none: train one (`shallowdeep lab --quick`)"
            raise HTTPException(404, f"no chest X-ray run {_shown(run)} here; the X-ray runs are {known}")
        image = _decode(await _image_bytes(request))
        return await run_in_threadpool(explorer.xrays[run].read, image)

    return app
