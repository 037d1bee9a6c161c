"""The run-lock holder (gonka_deploy/hostside/runlock.py), run here as hosts run it
(``python3 -c SCRIPT …``), with util-linux's ``flock -n`` standing in for upstream's
deployment-lock.sh (it takes the same exclusive, non-blocking flock). The watched process is a
plain child here; on a host it is the sshd session of the run's connection."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gonka_deploy.hostside import source
from gonka_deploy.operations.runlock import acquire_command, refusal_message
from tests.conftest import unavailable

SCRIPT = source("runlock.py")


def runlock(*args: str, env: dict | None = None) -> tuple[int, dict]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True,
                       timeout=60, env=env)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture
def world(tmp_path):
    """A lock dir, a deploy/join, and a process standing in for the SSH session (killed at the
    end, with every holder the test started)."""
    (tmp_path / "join").mkdir()
    sessions = []

    def session() -> subprocess.Popen:
        proc = subprocess.Popen(["sleep", "300"])
        sessions.append(proc)
        return proc

    yield {"dir": str(tmp_path / "lock"), "join": str(tmp_path / "join"), "session": session}
    for proc in sessions:
        proc.kill()
        proc.wait()


def acquire(world, session, run_id="run-1", who="ana@laptop", *extra) -> tuple[int, dict]:
    return runlock("acquire", "--run-id", run_id, "--who", who, "--deploy", "deploys/node.py",
                   "--lock-dir", world["dir"], "--join", world["join"],
                   "--watch", str(session.pid), *extra)


def flock_n(path: str) -> int:
    """What upstream's `flock -n 9` on the lock file gets: 0 free, 1 held."""
    if not shutil.which("flock"):
        unavailable("util-linux flock is missing")
    return subprocess.run(["flock", "-n", path, "true"], timeout=10).returncode


def wait_free(path: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded: the holder exits as soon as it sees the end
        if flock_n(path) == 0:
            return True
        time.sleep(0.05)
    return False


def test_second_holder_is_refused_naming_the_first(world):
    first = world["session"]()
    rc, doc = acquire(world, first)
    assert rc == 0 and doc["ok"], doc
    lock_a = f"{world['join']}/.gonka-deployment.lock"
    assert doc["held"] == [f"{world['dir']}/gonka-deploy.lock", lock_a]
    assert "upstream-b" in doc["skipped"]  # no Docker daemon here

    rc, refused = acquire(world, world["session"](), "run-2", "bob@desk")
    assert rc == 1 and not refused["ok"] and refused["kind"] == "toolkit"
    holder = refused["holder"]
    assert holder["who"] == "ana@laptop" and holder["run_id"] == "run-1"
    assert holder["holders"][0]["pid"] == doc["holder_pid"] == refused["locker"]["pid"]
    message = refusal_message(refused)
    assert message.startswith("run lock: another run holds this host: ana@laptop "
                              "(deploys/node.py, run run-1) since ")
    assert f"kill {doc['holder_pid']}" in message
    # nothing is ever written into a lock file: the holder's description lives beside it
    assert Path(world["dir"], "gonka-deploy.lock").read_bytes() == b""
    assert Path(lock_a).read_bytes() == b""
    assert oct(os.stat(lock_a).st_mode & 0o777) == "0o600"  # as upstream's umask 077 makes it


def test_upstream_flock_fails_while_held_and_the_same_run_may_ask_again(world):
    session = world["session"]()
    assert acquire(world, session)[0] == 0
    assert flock_n(f"{world['join']}/.gonka-deployment.lock") == 1
    assert flock_n(f"{world['dir']}/gonka-deploy.lock") == 1
    rc, again = acquire(world, session)
    assert rc == 0 and again["held"] == [] and len(again["already"]) == 2


def test_the_lock_is_free_again_when_the_watched_session_ends(world):
    session = world["session"]()
    rc, doc = acquire(world, session)
    assert rc == 0
    session.kill()
    session.wait()
    assert wait_free(f"{world['dir']}/gonka-deploy.lock"), "the dead run's lock stayed held"
    assert wait_free(f"{world['join']}/.gonka-deployment.lock")
    rc, status = runlock("status", "--lock-dir", world["dir"], "--join", world["join"])
    assert status["holder"] is None and all(lock["holder"] is None for lock in status["locks"])
    rc, next_run = acquire(world, world["session"](), "run-2", "bob@desk")
    assert rc == 0 and next_run["ok"]


def test_an_upstream_script_holding_its_lock_refuses_the_apply_and_is_named(world):
    if not shutil.which("flock"):
        unavailable("util-linux flock is missing")
    lock_a = f"{world['join']}/.gonka-deployment.lock"
    Path(lock_a).touch()
    upstream = subprocess.Popen(["flock", "-n", lock_a, "sleep", "300"])
    try:
        deadline = time.monotonic() + 10
        while flock_n(lock_a) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        rc, status = runlock("status", "--lock-dir", world["dir"], "--join", world["join"])
        held = {lock["kind"]: lock["holder"] for lock in status["locks"]}
        assert held["upstream-a"]["pid"] == upstream.pid, status
        rc, refused = acquire(world, world["session"]())
        assert rc == 1 and refused["kind"] == "upstream-a", refused
        assert refused["locker"] == {"pid": upstream.pid,
                                     "cmd": f"flock -n {lock_a} sleep 300"}
        assert "an upstream deploy script" in refusal_message(refused)
        # the refused run let go of the toolkit lock it had taken first
        assert wait_free(f"{world['dir']}/gonka-deploy.lock")
    finally:
        upstream.kill()
        upstream.wait()


def test_status_only_reads(world):
    rc, status = runlock("status", "--lock-dir", world["dir"], "--join", world["join"])
    assert rc == 0 and status["holder"] is None
    assert not Path(world["dir"]).exists()
    assert not Path(world["join"], ".gonka-deployment.lock").exists()


def test_lock_b_is_upstreams_path_for_the_docker_daemon_and_project(world, tmp_path):
    """With a Docker daemon, lock-b's path: sha256 of "<daemon id>\\n<project>\\n", the project
    from the proxy container's compose label (else the basename of deploy/join)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        'case "$1" in info) echo "ABCD:EFGH:daemon-id";; '
        'inspect) [ "$4" = proxy ] && echo join2 || { echo "Error: No such object: $4" >&2; '
        "exit 1; };; esac\n")
    (bin_dir / "docker").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    shell = subprocess.run(["sh", "-c", "printf '%s\\n%s\\n' ABCD:EFGH:daemon-id join2 | "
                            "sha256sum"], capture_output=True, text=True).stdout.split()[0]
    assert shell == hashlib.sha256(b"ABCD:EFGH:daemon-id\njoin2\n").hexdigest()
    lock_b = f"/tmp/gonka-deployment-{shell}.lock"
    session = world["session"]()
    try:
        rc, doc = runlock("acquire", "--run-id", "r", "--who", "w", "--lock-dir", world["dir"],
                          "--join", world["join"], "--watch", str(session.pid), env=env)
        assert rc == 0 and lock_b in doc["held"], doc
        assert flock_n(lock_b) == 1
    finally:
        session.kill()
        session.wait()
        wait_free(lock_b)
        Path(lock_b).unlink(missing_ok=True)


def test_without_an_ssh_session_nothing_is_taken(world):
    rc, doc = runlock("acquire", "--run-id", "r", "--who", "w", "--lock-dir", world["dir"])
    assert rc == 1 and "not started over SSH" in doc["error"]
    assert not Path(world["dir"]).exists()


def test_acquire_command_names_the_run_the_deploy_and_deploy_join():
    text = acquire_command("deploys/node.py", "/j", "/run/lock").get_raw_value()
    assert " acquire --run-id " in text and "--deploy deploys/node.py" in text
    assert "--join /j" in text
