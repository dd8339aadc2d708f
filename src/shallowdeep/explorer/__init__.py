"""``shallowdeep explore``: a local web page to draw a digit and watch every MNIST run answer, look
inside the networks, browse each run's test mistakes, and ask a chest X-ray run about an image.

>>> from shallowdeep.explorer import BackgroundServer, create_app, find_runs
>>> app = create_app(find_runs(["lab-report"]))             # doctest: +SKIP
>>> with BackgroundServer(app) as server:                    # doctest: +SKIP
...     print(server.url)                                    # the page, and the API under /api/

The API is the page's, and a script's: ``GET /api/runs``, ``POST /api/digit`` and ``POST /api/xray``
with an image as the body, ``GET /api/runs/{key}/confusion`` and ``/cell?true=&predicted=``;
FastAPI describes it at ``/openapi.json`` and ``/docs``.
"""

from shallowdeep.explorer.app import MAX_BODY_BYTES, MAX_DIGIT_PIXELS, accepted_hosts, create_app
from shallowdeep.explorer.catalog import ExplorerError, find_runs
from shallowdeep.explorer.server import LOOPBACK, BackgroundServer, serve

__all__ = ["LOOPBACK", "MAX_BODY_BYTES", "MAX_DIGIT_PIXELS", "BackgroundServer", "ExplorerError", "accepted_hosts",
           "create_app", "find_runs", "serve"]
