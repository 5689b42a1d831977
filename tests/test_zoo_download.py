"""Zoo downloads against a local HTTP server (127.0.0.1, started here) serving artifacts built here.

The server serves the files of a real build under ``/ok/``, and misbehaves on purpose under
``/short/`` (a Content-Length it does not honour, then a closed connection), ``/truncated/`` (half
the file, honestly announced), ``/tamper/`` (right size, one byte changed) and ``/missing/`` (404).
"""

from __future__ import annotations

import http.server
import socket
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_zoo_build import built, normalized

from nabench import zoo
from nabench.zoo import ZooError
from nabench.zoo.catalog import ZooFile
from nabench.zoo.download import DownloadError, fetch, sha256_file


@pytest.fixture(scope="module")
def artifacts(corpus, tmp_path_factory) -> Path:
    normalized(corpus)
    return built(tmp_path_factory)


@pytest.fixture(scope="module")
def server(artifacts):
    root = artifacts

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            mode, _, rel = self.path.lstrip("/").partition("/")
            path = root / rel
            if mode == "missing" or not path.is_file():
                self.send_error(404, "Not Found")
                return
            data = path.read_bytes()
            body = {"short": data[: len(data) // 2], "truncated": data[: len(data) // 2],
                    "tamper": data[:-1] + bytes([data[-1] ^ 1])}.get(mode, data)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) if mode == "short" else len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if mode == "short":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def served_entry(artifacts: Path, base: str, name: str = "xgb.nlp-served"):
    """The entry of the built artifacts, with every file's URL on the local server."""
    from test_zoo_build import small_entry

    files = tuple(ZooFile(p.relative_to(artifacts).as_posix(), f"{base}/{p.relative_to(artifacts).as_posix()}",
                          sha256_file(p), p.stat().st_size)
                  for p in sorted(artifacts.rglob("*")) if p.is_file() and p.name != "card.yml")
    return replace(small_entry(name=name), files=files)


@pytest.fixture(scope="module")
def nlp_graphs(artifacts, corpus):
    nlp = normalized(corpus)
    return nlp.arch_graphs(list(nlp.graphs()["native_id"][:20]))


def test_pull_downloads_verifies_caches_and_loads(artifacts, server, nlp_graphs, fresh_home):
    entry = served_entry(artifacts, f"{server}/ok")
    folder = zoo.pull(entry)
    assert folder == fresh_home / "zoo" / entry.name
    assert not list(folder.rglob("*.part"))
    for f in entry.files:
        assert (folder / f.path).read_bytes() == (artifacts / f.path).read_bytes()
    model = zoo.load(entry)
    np.testing.assert_array_equal(model.predict(nlp_graphs), zoo.load_dir(artifacts).predict(nlp_graphs))


def test_cached_files_are_reused_offline(artifacts, server, fresh_home):
    zoo.pull(served_entry(artifacts, f"{server}/ok"))
    with socket.socket() as s:  # a port nobody listens on: any download attempt would fail
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    offline = served_entry(artifacts, dead)
    assert zoo.load(offline).members
    with pytest.raises(DownloadError, match="cannot connect"):
        zoo.pull(served_entry(artifacts, dead, name="xgb.nlp-never-pulled"))


def test_verified_downloads_are_not_hashed_again_until_they_change(artifacts, server, fresh_home, monkeypatch):
    import os

    from nabench.zoo import download

    entry = served_entry(artifacts, f"{server}/ok")
    folder = zoo.pull(entry)
    hashed = []
    real = download.sha256_file
    monkeypatch.setattr(download, "sha256_file", lambda path: hashed.append(path) or real(path))
    assert zoo.load(entry).members and hashed == []  # a stat per file, no hashing
    f = max(entry.files, key=lambda f: f.size)
    path = folder / f.path
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, other bytes, written later:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # (mtime one second on, whatever the fs clock)
    zoo.load(entry)
    assert path in hashed and path.read_bytes() == data  # noticed, hashed, downloaded again
    hashed.clear()
    zoo.pull(entry, recheck=True)
    assert len(hashed) == len(entry.files)


def test_a_corrupted_cache_file_is_downloaded_again(artifacts, server, fresh_home):
    entry = served_entry(artifacts, f"{server}/ok")
    folder = zoo.pull(entry)
    target = folder / entry.files[0].path
    target.write_bytes(b"garbage")
    zoo.pull(entry)
    assert target.read_bytes() == (artifacts / entry.files[0].path).read_bytes()


@pytest.mark.parametrize("mode, message", [
    ("missing", "HTTP 404"),
    ("truncated", "short read"),
    ("short", "(transfer failed|short read)"),
    ("tamper", "sha256 .* does not match"),
])
def test_failed_downloads_leave_the_cache_as_it_was(artifacts, server, fresh_home, mode, message):
    entry = served_entry(artifacts, f"{server}/{mode}")
    f = max(entry.files, key=lambda f: f.size)  # the model file: large enough to be cut
    dest = fresh_home / "zoo" / entry.name / f.path
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"an older, unverified copy")
    with pytest.raises(DownloadError, match=message):
        fetch(f.url, dest, f.sha256, f.size)
    assert dest.read_bytes() == b"an older, unverified copy"
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]
    # and with nothing cached before, nothing is left behind
    fresh = dest.with_name("fresh-" + dest.name)
    with pytest.raises(DownloadError):
        fetch(f.url, fresh, f.sha256, f.size)
    assert not fresh.exists() and not fresh.with_name(fresh.name + ".part").exists()


def test_a_larger_file_than_registered_is_refused(artifacts, server, fresh_home):
    entry = served_entry(artifacts, f"{server}/ok")
    f = max(entry.files, key=lambda f: f.size)
    with pytest.raises(DownloadError, match="more than the expected"):
        fetch(f.url, fresh_home / "x", f.sha256, f.size - 10)
    assert not (fresh_home / "x").exists()


def test_unpublished_and_incompatible_entries_say_what_to_do(artifacts, fresh_home):
    from test_zoo_build import small_entry

    with pytest.raises(ZooError, match="nabench zoo build"):
        zoo.pull(small_entry())
    old = replace(served_entry(artifacts, "http://127.0.0.1:9"), nabench_versions=">=9.0")
    with pytest.raises(ZooError, match="needs nabench >=9.0"):
        zoo.load(old)
