"""The explorer over the session's tiny runs: one application, loaded once, for the API tests
(FastAPI's TestClient) and the browser tests (a real uvicorn server on 127.0.0.1)."""

from __future__ import annotations

import pytest

from shallowdeep.explorer import create_app, find_runs


@pytest.fixture(scope="session")
def explorer_app(tiny_runs, real_data_dir, shared_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHALLOWDEEP_CACHE", str(shared_cache))
        return create_app(find_runs([tiny_runs]), data_dir=real_data_dir)


@pytest.fixture(scope="session")
def client(explorer_app):
    from fastapi.testclient import TestClient

    return TestClient(explorer_app, base_url="http://127.0.0.1")
