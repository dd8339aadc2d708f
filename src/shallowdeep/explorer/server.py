"""Serving the explorer with uvicorn: in the foreground for the command, or in a background
thread for a notebook, a script or a test.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error (and
port 0 picks a free one). Only loopback is the default; another host is served with a warning,
since the server has no authentication.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import webbrowser

import uvicorn
from fastapi import FastAPI

from shallowdeep.explorer.catalog import ExplorerError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or :class:`ExplorerError` saying what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ExplorerError(f"cannot listen on {host}:{port} ({error.strerror}); choose another port with "
                            f"--port {port + 1 if port else 8000}, or stop what uses it") from None
    sock.listen(128)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def warn_if_exposed(host: str) -> None:
    if host not in LOOPBACK:
        print(f"shallowdeep explore: warning: listening on {host}, not only on this computer (127.0.0.1): "
              f"anyone who can reach it can use the explorer, which has no password", file=sys.stderr)


def _server(app: FastAPI) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True) -> None:
    """Serve ``app`` until Ctrl-C, opening the page in the default browser once it answers."""
    warn_if_exposed(host)
    sock = bind(host, port)
    url = _url(sock)
    server = _server(app)
    print(f"shallowdeep explore: {url} (Ctrl-C stops it)", flush=True)
    if open_browser:
        def open_when_started():
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(url)
        threading.Thread(target=open_when_started, daemon=True).start()
    server.run(sockets=[sock])


class BackgroundServer:
    """The explorer served from a thread of this process: ``url``, then :meth:`stop`.

    >>> server = BackgroundServer(app).start()      # doctest: +SKIP
    >>> server.url                                  # doctest: +SKIP
    'http://127.0.0.1:45123/'
    >>> server.stop()                               # doctest: +SKIP
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        warn_if_exposed(host)
        self._socket = bind(host, port)
        self.url = _url(self._socket)
        self._server = _server(app)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="shallowdeep-explore", daemon=True)

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ExplorerError(f"the explorer did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
