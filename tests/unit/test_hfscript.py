"""The host-side model script against the simulated Hugging Face endpoint on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gonkasim.testing import SimProcess

from gonka_deploy.hfscript import SCRIPT

HF_BIN = Path(sys.executable).with_name("hf")
REPO = "testorg/tiny-model"
pytestmark = pytest.mark.needs(str(HF_BIN))  # huggingface_hub (pyproject.toml) installs it


@pytest.fixture()
def endpoint(tmp_path):
    sim = SimProcess("hf", str(tmp_path), listeners=["http"],
                     args=["--data", str(tmp_path / "data"), "--bandwidth", str(2 * 1024 * 1024),
                           "--size", str(6 * 1024 * 1024)])
    sim.start()
    banner = next(line for line in open(sim.log_path) if line.startswith("MODEL "))
    _, _, _, sha, _, size = banner.split()
    sim.sha, sim.size = sha, int(size)
    yield sim
    sim.stop()


def run(env, *args) -> dict:
    out = subprocess.run(["python3", "-c", SCRIPT, *args], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait(env, sha, until, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(env, "status", REPO, sha)
        if until(status):
            return status
        time.sleep(0.1)
    raise AssertionError(f"timed out: {status}")


def test_download_runs_detached_resumes_after_kill_and_pins_main(tmp_path, endpoint):
    sha = endpoint.sha
    env = {"PATH": os.environ["PATH"], "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": endpoint.url("http"), "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    first = run(env, "status", REPO, sha)
    assert first["complete"] is False and first["running"] is None
    assert first["total"] == endpoint.size and first["missing_count"] == first["files"]

    started = run(env, "start", REPO, sha, str(HF_BIN))
    assert started["started"] is True
    assert run(env, "start", REPO, sha, str(HF_BIN)) == {"started": False, "pid": started["pid"]}

    # Kill the download mid-way, as a crash would; the next start finishes it.
    partial = wait(env, sha, lambda s: s["have"] > 0)
    os.killpg(started["pid"], signal.SIGKILL)
    stopped = wait(env, sha, lambda s: s["running"] is None)
    assert not stopped["complete"], "the throttled download finished before the kill"
    assert partial["have"] > 0

    assert run(env, "start", REPO, sha, str(HF_BIN))["started"] is True
    done = wait(env, sha, lambda s: s["complete"] and s["running"] is None)
    assert done["have"] == done["total"]
    refs = tmp_path / "hf" / "hub" / "models--testorg--tiny-model" / "refs" / "main"
    assert refs.read_text() == sha
