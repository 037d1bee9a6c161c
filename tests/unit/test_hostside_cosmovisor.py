"""hostside/cosmovisor.py run as the hosts run it (``python3 -c SCRIPT MODE ARGS``), against a
loopback HTTP server that honours Range requests and can cut a download short."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile

import pytest

from gonka_deploy.hostside import source

FAST = dict(os.environ, GONKA_RETRY_DELAY="0")


def stand_in(version: str, program: str = "inferenced") -> bytes:
    return f"#!/bin/sh\nversion={version}\necho {version}\n".encode()


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (2000, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def files_server():
    """{path: bytes} served with Range support; ``cut`` = {path: n}: the first GET of path sends
    only n bytes of the body, then drops the connection. Returns (base url, files, cut, log)."""
    files: dict[str, bytes] = {}
    cut: dict[str, int] = {}
    log: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            rng = self.headers.get("Range")
            log.append((self.path, rng))
            data = files.get(self.path)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not found")
                return
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path in cut:
                self.wfile.write(body[:cut.pop(self.path)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", files, cut, log
    httpd.shutdown()
    httpd.server_close()


def run(mode: str, args: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", source("cosmovisor.py"), mode, json.dumps(args)],
                          capture_output=True, text=True, env=FAST, timeout=60)


def join_dirs(tmp_path):
    join = tmp_path / "join"
    return {"inference": str(join / ".inference"), "dapi": str(join / ".dapi")}


def item(home: str, url: str, data: bytes, upgrade="v0.2.15", program="inferenced", binary=None):
    return {"upgrade": upgrade, "home": home, "program": program, "url": url,
            "sha256": sha(data), "binary_sha256": binary}


def test_cut_download_resumes_with_range_and_lands_atomically(tmp_path, files_server):
    base, files, cut, log = files_server
    binary = stand_in("v0.2.15") + b"#" * 300_000  # big enough to be cut in the middle
    payload = make_zip({"inferenced": binary, "libgcc_s.so.1": b"\x7fELF lib"})
    files["/release%2Fv0.2.15/inferenced-amd64.zip"] = payload
    cut["/release%2Fv0.2.15/inferenced-amd64.zip"] = 100_000
    homes = join_dirs(tmp_path)
    url = base + "/release%2Fv0.2.15/inferenced-amd64.zip"
    done = run("install", {"cache": str(tmp_path / "cache"), "attempts": 3,
                           "items": [item(homes["inference"], url, payload,
                                          binary=sha(binary))],
                           "links": {homes["inference"]: "v0.2.15"},
                           "mkdirs": [homes["inference"] + "/data"]})
    assert done.returncode == 0, done.stderr
    assert [rng for _, rng in log] == [None, "bytes=100000-"]
    assert "failed transiently" in done.stdout and "resuming at 100000 bytes" in done.stdout
    upgrades = tmp_path / "join/.inference/cosmovisor/upgrades"
    program = upgrades / "v0.2.15/bin/inferenced"
    assert program.read_bytes() == binary and os.access(program, os.X_OK)
    assert oct((upgrades / "v0.2.15/bin/libgcc_s.so.1").stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in upgrades.iterdir()) == ["v0.2.15"]  # no staging dir left
    assert os.readlink(tmp_path / "join/.inference/cosmovisor/current") == "upgrades/v0.2.15"
    assert (tmp_path / "join/.inference/data").is_dir()
    assert list((tmp_path / "cache").iterdir()) == []  # the zip is not kept once installed
    marker = json.loads((upgrades / "v0.2.15/gonka-deploy.json").read_text())
    assert marker["sha256"] == sha(payload) and marker["files"]["inferenced"] == sha(binary)


def test_wrong_zip_checksum_fails_and_places_nothing(tmp_path, files_server):
    base, files, _, log = files_server
    payload = make_zip({"inferenced": stand_in("v0.2.15")})
    files["/z.zip"] = payload
    homes = join_dirs(tmp_path)
    bad = item(homes["inference"], base + "/z.zip", payload)
    bad["sha256"] = "0" * 64
    done = run("install", {"cache": str(tmp_path / "cache"), "items": [bad], "links": {}})
    assert done.returncode == 1
    assert f"sha256 {sha(payload)}, the plan says {'0' * 64}" in done.stderr
    assert not (tmp_path / "join").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # the wrong bytes are not resumed later


def test_wrong_binary_checksum_fails_and_places_nothing(tmp_path, files_server):
    base, files, _, _ = files_server
    payload = make_zip({"inferenced": stand_in("v0.2.15")})
    files["/z.zip"] = payload
    homes = join_dirs(tmp_path)
    done = run("install", {"cache": str(tmp_path / "cache"),
                           "items": [item(homes["inference"], base + "/z.zip", payload,
                                          binary="1" * 64)], "links": {}})
    assert done.returncode == 1 and "the profile says " + "1" * 64 in done.stderr
    assert os.listdir(tmp_path / "join/.inference/cosmovisor/upgrades") == []


def test_a_404_fails_at_once(tmp_path, files_server):
    base, _, _, log = files_server
    homes = join_dirs(tmp_path)
    gone = item(homes["inference"], base + "/gone.zip", b"x")
    done = run("install", {"cache": str(tmp_path / "cache"), "attempts": 4, "items": [gone]})
    assert done.returncode == 1 and "HTTP 404" in done.stderr and len(log) == 1


def test_nothing_answering_is_retried_then_bounded(tmp_path):
    homes = join_dirs(tmp_path)
    down = item(homes["inference"], "http://127.0.0.1:9/x.zip", b"x")
    done = run("install", {"cache": str(tmp_path / "cache"), "attempts": 3, "items": [down]})
    assert done.returncode == 1 and "no complete download after 3 attempts" in done.stderr
    assert done.stdout.count("failed transiently") == 2


def test_half_made_upgrade_dir_is_completed_and_a_foreign_binary_never_overwritten(
        tmp_path, files_server):
    base, files, _, _ = files_server
    api = stand_in("v0.2.15", "decentralized-api")
    payload = make_zip({"decentralized-api": api, "inferenced": stand_in("v0.2.15")})
    files["/api.zip"] = payload
    homes = join_dirs(tmp_path)
    bindir = tmp_path / "join/.dapi/cosmovisor/upgrades/v0.2.15/bin"
    bindir.mkdir(parents=True)  # what `mkdir -p` of the docs leaves when the download failed
    args = {"cache": str(tmp_path / "cache"),
            "items": [item(homes["dapi"], base + "/api.zip", payload, program="decentralized-api")],
            "links": {homes["dapi"]: "v0.2.15"}}
    done = run("install", args)
    assert done.returncode == 0, done.stderr
    assert (bindir / "decentralized-api").read_bytes() == api
    assert os.access(bindir / "inferenced", os.X_OK)  # the api zip's inferenced, as the docs do
    # Someone else's binary of the same name: refused, left as it was.
    (bindir / "decentralized-api").write_bytes(b"#!/bin/sh\necho hotfix\n")
    done = run("install", args)
    assert done.returncode == 1 and "not overwritten" in done.stderr
    assert (bindir / "decentralized-api").read_bytes() == b"#!/bin/sh\necho hotfix\n"
    assert sorted(p.name for p in bindir.parent.parent.iterdir()) == ["v0.2.15"]


def test_a_zip_without_the_program_fails_naming_what_it_has(tmp_path, files_server):
    base, files, _, _ = files_server
    payload = make_zip({"README": b"nothing"})
    files["/z.zip"] = payload
    homes = join_dirs(tmp_path)
    done = run("install", {"cache": str(tmp_path / "cache"),
                           "items": [item(homes["inference"], base + "/z.zip", payload)]})
    assert done.returncode == 1 and "has no inferenced (it has README)" in done.stderr


def test_state_reports_links_files_markers_and_first_start(tmp_path):
    homes = join_dirs(tmp_path)
    inf = tmp_path / "join/.inference"
    (inf / "cosmovisor/upgrades/v0.2.15/bin").mkdir(parents=True)
    (inf / "cosmovisor/upgrades/v0.2.15/bin/inferenced").write_bytes(b"bin")
    (inf / "cosmovisor/upgrades/v0.2.15/bin/inferenced").chmod(0o755)
    # cosmovisor may write an absolute link made inside the container: dangling on the host
    (inf / "cosmovisor/current").symlink_to("/root/.inference/cosmovisor/upgrades/v0.2.15")
    (inf / "config").mkdir()
    (inf / "data").mkdir()
    (inf / "data/blob").write_bytes(b"x" * 10_000)
    dapi = tmp_path / "join/.dapi"
    (dapi / "cosmovisor").mkdir(parents=True)
    (dapi / "cosmovisor/current").symlink_to("genesis")
    out = run("state", {"homes": homes, "upgrades": ["v0.2.15", "v0.2.16"],
                        "container_homes": {"inference": "/root/.inference",
                                            "dapi": "/root/.dapi"},
                        "measure_data": True})
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["inference"]["current"] == "upgrades/v0.2.15"
    assert st["inference"]["started"] is False  # no config.toml yet: never started
    assert st["inference"]["upgrades"]["v0.2.15"]["files"] == {
        "inferenced": {"sha256": sha(b"bin"), "mode": 0o755}}
    assert st["inference"]["upgrades"]["v0.2.16"] == {"dir": False, "files": {}, "marker": None}
    assert st["dapi"] == {"started": False, "current": "genesis", "data_dir": False,
                          "upgrades": {"v0.2.15": {"dir": False, "files": {}, "marker": None},
                                       "v0.2.16": {"dir": False, "files": {}, "marker": None}}}
    assert st["data_bytes"] >= 10_000 and st["free_bytes"] > 0
    (inf / "config/config.toml").write_text("")
    (dapi / "data").mkdir()
    st = json.loads(run("state", {"homes": homes, "upgrades": []}).stdout)
    assert st["inference"]["started"] and st["dapi"]["started"] and st["data_bytes"] is None
