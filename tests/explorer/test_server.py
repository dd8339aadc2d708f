"""The explorer as `shallowdeep explore` serves it: built and started by ``sd.explore``, the
function the command calls (here with ``block=False``: the same application and uvicorn server, from
a thread), on 127.0.0.1 and on ::1, spoken to over real HTTP (http.client). Only its own page and
scripts are answered: a page of another site gets 403 (Origin, Referer) and a name that is not
this computer's 400 (DNS rebinding); a body past the cap gets 413 however it is sent, unheld."""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import tracemalloc
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

import shallowdeep as sd
from shallowdeep.explorer import MAX_BODY_BYTES, BackgroundServer

pytestmark = pytest.mark.slow  # the session's tiny runs are trained first

ELSEWHERE = "https://elsewhere.example"
MIB = 1024 * 1024


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module", params=[
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")),
])
def server(request, tiny_runs, real_data_dir, shared_cache) -> BackgroundServer:
    """``shallowdeep explore TINY_RUNS --host HOST --port 0 --no-browser``, served from a thread."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHALLOWDEEP_CACHE", str(shared_cache))
        running = sd.explore([tiny_runs], host=request.param, port=0, open_browser=False, data_dir=real_data_dir,
                             block=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def drawing() -> bytes:
    """A white stroke on black, enough of a digit for every run to answer."""
    pixels = np.zeros((28, 28), np.uint8)
    pixels[5:23, 13:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _connection(server: BackgroundServer) -> http.client.HTTPConnection:
    url = urlsplit(server.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def _own_origin(server: BackgroundServer) -> str:
    return server.url.rstrip("/")  # http://127.0.0.1:PORT, as a browser writes the page's origin


def _answer(response: http.client.HTTPResponse) -> tuple[int, dict]:
    return response.status, json.loads(response.read() or b"null")


def _request(server: BackgroundServer, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """The status and JSON of one request; http.client sends a Host of the server's own unless given one."""
    connection = _connection(server)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return _answer(connection.getresponse())
    finally:
        connection.close()


def test_a_page_of_another_site_posting_a_drawing_gets_403(server, drawing):
    status, answer = _request(server, "POST", "/api/digit", drawing, {"Origin": ELSEWHERE, "Content-Type": "image/png"})
    assert status == 403
    assert "the explorer only answers its own page" in answer["detail"] and ELSEWHERE in answer["detail"]


def test_an_old_browser_naming_the_other_site_only_in_its_referer_gets_403(server, drawing):
    """Browsers before 2020 sent no Origin with a form's post; their Referer names the page."""
    status, answer = _request(server, "POST", "/api/digit", drawing, {"Referer": ELSEWHERE + "/draw.html"})
    assert status == 403 and "Referer" in answer["detail"]


def test_the_explorer_s_own_page_is_answered(server, drawing):
    status, answer = _request(server, "POST", "/api/digit", drawing, {"Origin": _own_origin(server)})
    assert status == 200 and sorted(item["run"] for item in answer["answers"]) == ["cnn-1", "hog-1", "raw-1"]
    assert _request(server, "POST", "/api/digit", drawing, {"Referer": server.url})[0] == 200
    assert _request(server, "POST", "/api/digit", drawing)[0] == 200  # a script names no page


def test_a_script_of_another_site_cannot_read_the_api_but_a_link_from_another_page_opens_it(server):
    """A GET with a foreign Origin is another site's script reading the answer; one with only a
    foreign Referer is someone following a link (from a notebook at localhost:8888), and opens the page."""
    assert _request(server, "GET", "/api/runs", headers={"Origin": ELSEWHERE})[0] == 403
    assert _request(server, "GET", "/api/runs", headers={"Origin": "null"})[0] == 403  # a sandboxed page
    connection = _connection(server)
    connection.request("GET", "/", headers={"Referer": "http://localhost:8888/tree"})
    assert connection.getresponse().status == 200
    connection.close()


def test_a_name_that_is_not_this_computer_s_gets_400_and_every_loopback_name_is_answered(server):
    """A page of another site that points its own name at 127.0.0.1 (DNS rebinding) sends that name."""
    port = urlsplit(server.url).port
    status, answer = _request(server, "GET", "/api/runs", headers={"Host": f"rebound.example.com:{port}"})
    assert status == 400 and "does not answer to the name 'rebound.example.com" in answer["detail"]
    for name in ("127.0.0.1", "localhost", "[::1]", "::1"):
        assert _request(server, "GET", "/api/runs", headers={"Host": f"{name}:{port}"})[0] == 200, name
        assert _request(server, "GET", "/api/runs", headers={"Host": name})[0] == 200, name


def test_a_chunked_body_past_the_cap_gets_413_before_the_server_has_read_it_all(server):
    """50 MiB sent in 1 MiB chunks with no Content-Length, as a browser streams an upload: the
    server answers 413 once 20 MiB have come, and holds no more than that meanwhile."""
    chunk, total, sent = b"\0" * MIB, 50 * MIB, 0
    connection = _connection(server)
    connection.putrequest("POST", "/api/digit")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("Content-Type", "image/png")
    connection.endheaders()
    tracemalloc.start()  # the server's thread allocates in this process: what it holds is traced
    try:
        while sent < total and not select.select([connection.sock], [], [], 0)[0]:  # until the server answers
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        if sent == total:
            connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed the connection while the body was still coming
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    status, answer = _answer(connection.getresponse())
    connection.close()
    assert status == 413 and f"larger than {MAX_BODY_BYTES:,} bytes" in answer["detail"]
    assert sent < total  # the server stopped reading: it did not wait for the rest
    assert peak < MAX_BODY_BYTES + 8 * MIB  # 22 MiB measured: the cap, a chunk, and what it is sent in
    assert _request(server, "GET", "/api/runs")[0] == 200


def test_a_content_length_over_the_cap_gets_413_before_the_body_is_sent(server):
    connection = _connection(server)
    connection.putrequest("POST", "/api/digit")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()  # and not one byte of the body
    status, answer = _answer(connection.getresponse())
    connection.close()
    assert status == 413 and f"larger than {MAX_BODY_BYTES:,} bytes" in answer["detail"]
