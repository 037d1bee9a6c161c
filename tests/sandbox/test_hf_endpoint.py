"""The HF endpoint sim against the real client (the venv's huggingface_hub 2.4.0)."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gonkasim import hf, testing

from tests.conftest import unavailable

REPO = "testorg/tiny-model"


@pytest.fixture(scope="session")
def hf_cli():
    """The `hf` CLI of huggingface_hub 2.4.0, the venv's own (pinned in pyproject.toml): no
    download at test time."""
    cli = Path(sys.executable).with_name("hf")
    if not cli.exists() or importlib.metadata.version("huggingface_hub") != "2.4.0":
        unavailable(f"{cli}: the venv's huggingface_hub 2.4.0 (pyproject.toml) is missing")
    return str(cli)


def start_hf(tmp_path, name, *args):
    p = testing.SimProcess("hf", str(tmp_path), ["http"],
                           ["--data", str(tmp_path / "data"), *args], name=name)
    p.start(timeout=30)
    with open(p.log_path) as f:
        model_line = next(line for line in f if line.startswith("MODEL "))
    _, repo, _, commit, _, size = model_line.split()
    assert repo == REPO
    return p, commit, int(size)


def client_env(server, hf_home):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HF_ENDPOINT=server.url("http"), HF_HOME=str(hf_home),
               HF_HUB_DISABLE_UPDATE_CHECK="1", HF_HUB_DISABLE_TELEMETRY="1",
               NO_PROXY="127.0.0.1,localhost")
    return env


def expected_sizes(server, commit):
    code, info = server.get("http", f"/api/models/{REPO}/revision/{commit}?blobs=true")
    assert code == 200 and info["sha"] == commit
    return {s["rfilename"]: s["size"] for s in info["siblings"]}


def snapshot_sizes(hf_home, commit):
    snap = hf_home / "hub" / "models--testorg--tiny-model" / "snapshots" / commit
    out = {}
    for root, _, files in os.walk(snap):
        for name in files:
            path = os.path.join(root, name)
            if os.path.exists(path):  # a dangling link counts as missing
                out[os.path.relpath(path, snap)] = os.stat(path).st_size
    return out


def test_commit_depends_only_on_size(tmp_path):
    a, commit_a, size_a = start_hf(tmp_path / "a", "hf-a")
    b, commit_b, size_b = start_hf(tmp_path / "b", "hf-b")
    a.stop()
    b.stop()
    assert (commit_a, size_a) == (commit_b, size_b)
    assert commit_a == hf.commit_for(hf.DEFAULT_SIZE)
    assert hf.commit_for(hf.DEFAULT_SIZE * 2) != commit_a
    assert size_a > hf.DEFAULT_SIZE


def test_range_errors_and_tree_listing(tmp_path):
    server, commit, size = start_hf(tmp_path, "hf")
    try:
        tree_code, tree = server.get("http", f"/api/models/{REPO}/tree/{commit}?recursive=true")
        assert tree_code == 200
        files = {e["path"]: e for e in tree if e["type"] == "file"}
        assert sum(e["size"] for e in files.values()) == size
        shard = next(p for p in files if p.endswith(".safetensors"))
        url = f"{server.url('http')}/{REPO}/resolve/{commit}/{shard}"
        req = urllib.request.Request(url, headers={"Range": "bytes=100-"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == \
                f"bytes 100-{files[shard]['size'] - 1}/{files[shard]['size']}"
            assert resp.headers["X-Repo-Commit"] == commit
            assert resp.headers["X-Linked-Etag"] == f'"{files[shard]["lfs"]["oid"]}"'
            assert len(resp.read()) == files[shard]["size"] - 100
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.url('http')}/api/models/testorg/nope/tree/main",
                                   timeout=10)
        assert err.value.code == 404 and err.value.headers["X-Error-Code"] == "RepoNotFound"
    finally:
        server.stop()


def test_hf_download_by_commit_gets_every_file_at_its_size(tmp_path, hf_cli):
    server, commit, size = start_hf(tmp_path, "hf")
    hf_home = tmp_path / "hf-home"
    try:
        r = subprocess.run([hf_cli, "download", REPO, "--revision", commit], capture_output=True,
                           text=True, env=client_env(server, hf_home), timeout=180)
        assert r.returncode == 0, r.stderr
        want = expected_sizes(server, commit)
        assert snapshot_sizes(hf_home, commit) == want
        assert sum(want.values()) == size
    finally:
        server.stop()


def test_sigkill_mid_download_then_rerun_completes_keeping_finished_files(tmp_path, hf_cli):
    size = 4 * 1024 * 1024
    server, commit, _ = start_hf(tmp_path, "hf", "--size", str(size),
                                 "--bandwidth", str(2 * 1024 * 1024))
    hf_home = tmp_path / "hf-home"
    env = client_env(server, hf_home)
    blobs = hf_home / "hub" / "models--testorg--tiny-model" / "blobs"
    try:
        proc = subprocess.Popen([hf_cli, "download", REPO, "--revision", commit],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)

        def mid_download():
            # 2.4.0 buffers large reads, so a partial blob may still be 0 bytes on disk: an
            # .incomplete file (a GET in flight) next to a finished file is "mid-download".
            if not blobs.is_dir() or not snapshot_sizes(hf_home, commit):
                return False
            return any(f.endswith(".incomplete") for f in os.listdir(blobs))

        try:
            testing.poll(mid_download, 60, 0.01, what="a shard in flight")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        done_before = set(snapshot_sizes(hf_home, commit))
        assert done_before, "no file completed before the kill"
        want = expected_sizes(server, commit)
        assert done_before != set(want), "the kill came after the download finished"
        already = len(server.records())
        r = subprocess.run([hf_cli, "download", REPO, "--revision", commit], capture_output=True,
                           text=True, env=env, timeout=180)
        assert r.returncode == 0, r.stderr
        assert snapshot_sizes(hf_home, commit) == want
        rerun_gets = {rec["path"].split(f"/resolve/{commit}/", 1)[1]
                      for rec in server.records()[already:]
                      if rec.get("method") == "GET" and "/resolve/" in rec.get("path", "")}
        assert rerun_gets, "the re-run fetched nothing"
        assert not rerun_gets & done_before, "completed files were fetched again"
    finally:
        server.stop()
