"""Downloads against a real HTTP server on 127.0.0.1: verified, atomic, and clear when they fail."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
from pathlib import Path

import pytest

from shallowdeep.data import DataError
from shallowdeep.data.download import fetch
from shallowdeep.data.info import RemoteFile

PAYLOAD = os.urandom(300_000)


def remote_for(payload: bytes, urls=()) -> RemoteFile:
    return RemoteFile(
        "sample.bin", tuple(urls), md5=hashlib.md5(payload).hexdigest(), size=len(payload)
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_a_verified_download_lands_at_its_destination(local_server, tmp_path):
    url = local_server.serve_bytes("/sample.bin", PAYLOAD)
    destination = tmp_path / "data" / "sample.bin"
    fetch(remote_for(PAYLOAD, [url]), destination, progress=False)
    assert destination.read_bytes() == PAYLOAD
    assert leftovers(destination.parent) == ["sample.bin"]


def test_a_failing_url_falls_back_to_the_next(local_server, tmp_path):
    good = local_server.serve_bytes("/mirror/sample.bin", PAYLOAD)
    destination = tmp_path / "sample.bin"
    fetch(remote_for(PAYLOAD), destination, urls=[local_server.url + "/gone", good], progress=False)
    assert destination.read_bytes() == PAYLOAD


def test_404_names_the_file_url_checksum_and_where_to_put_it(local_server, tmp_path):
    remote = remote_for(PAYLOAD, [local_server.url + "/gone/sample.bin"])
    destination = tmp_path / "sample.bin"
    with pytest.raises(DataError) as caught:
        fetch(remote, destination, progress=False)
    message = str(caught.value)
    assert "HTTP 404" in message
    assert remote.urls[0] in message
    assert remote.md5 in message
    assert str(destination) in message
    assert leftovers(tmp_path) == []


def test_checksum_mismatch_leaves_nothing_behind(local_server, tmp_path):
    url = local_server.serve_bytes("/sample.bin", PAYLOAD)
    other = bytes(reversed(PAYLOAD))
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(remote_for(other, [url]), tmp_path / "sample.bin", progress=False)
    assert leftovers(tmp_path) == []


def test_a_connection_dropped_mid_transfer_leaves_no_partial_file(local_server, tmp_path):
    url = local_server.serve_dropped("/sample.bin", PAYLOAD, after=100_000)
    with pytest.raises(DataError, match="connection dropped after 100,000 of 300,000 bytes"):
        fetch(remote_for(PAYLOAD, [url]), tmp_path / "sample.bin", progress=False)
    assert leftovers(tmp_path) == []


def test_no_server_at_all_is_reported_as_cannot_connect(tmp_path):
    with socket_that_refuses() as url:
        with pytest.raises(DataError, match="cannot connect") as caught:
            fetch(remote_for(PAYLOAD, [url]), tmp_path / "sample.bin", progress=False)
    assert "download the file by hand" in str(caught.value)


@contextlib.contextmanager
def socket_that_refuses():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: connections are refused at once.
    yield f"http://127.0.0.1:{port}/sample.bin"


@contextlib.contextmanager
def without_write_permission(folder: Path):
    """Make ``folder`` read-only for this process, root included (root ignores mode bits)."""
    folder.chmod(0o555)
    dropped = os.geteuid() == 0
    if dropped:
        os.seteuid(65534)  # nobody; the saved set-user-ID lets us come back
    try:
        yield
    finally:
        if dropped:
            os.seteuid(0)
        folder.chmod(0o755)


def test_a_read_only_data_directory_gives_a_clear_error_and_is_left_untouched(local_server):
    url = local_server.serve_bytes("/sample.bin", PAYLOAD)
    # A folder the unprivileged user can reach (pytest's tmp_path is private to root).
    with tempfile.TemporaryDirectory() as parent:
        Path(parent).chmod(0o755)
        data_dir = Path(parent) / "readonly"
        data_dir.mkdir()
        with without_write_permission(data_dir):
            with pytest.raises(DataError) as caught:
                fetch(remote_for(PAYLOAD, [url]), data_dir / "sample.bin", progress=False)
        message = str(caught.value)
        assert "not writable" in message and str(data_dir / "sample.bin") in message
        assert url in message and "SHALLOWDEEP_DATA" in message
        assert leftovers(data_dir) == []
