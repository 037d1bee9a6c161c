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


# What upstream's lock reads from the environment: a test sets them itself, never inherits them.
LOCK_VARS = ("GONKA_DEPLOYMENT_LOCK", "GONKA_DEPLOYMENT_PROJECT", "COMPOSE_PROJECT_NAME",
             "PROXY_ROUTER_CONTAINER", "DOCKER_BIN", "GONKA_CONFIG_ENV")
# A stand-in `docker`: `info` prints $FAKE_DAEMON (exit $FAKE_INFO_RC); `inspect … NAME` prints
# NAME's label from $FAKE_LABELS ("proxy=join2,versiond=x"), else fails with $FAKE_INSPECT_ERR
# (default: Docker's "No such object"). Every call is appended to $FAKE_CALLS.
FAKE_DOCKER = """#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(" ".join(args) + "\\n")
if args[0] == "info":
    print(os.environ.get("FAKE_DAEMON", ""))
    sys.exit(int(os.environ.get("FAKE_INFO_RC", "0")))
labels = dict(p.split("=", 1) for p in os.environ.get("FAKE_LABELS", "").split(",") if p)
name = args[-1]
if name in labels:
    print(labels[name])
    sys.exit(0)
print(os.environ.get("FAKE_INSPECT_ERR", f"Error: No such object: {name}"), file=sys.stderr)
sys.exit(1)
"""


def runlock(*args: str, env: dict | None = None) -> tuple[int, dict]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True,
                       timeout=60, env=env)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


def lock_b(daemon: str, project: str) -> str:
    """Upstream's lock-b path: sha256 of "<daemon id>\\n<project>\\n"."""
    key = hashlib.sha256((daemon + "\n" + project + "\n").encode()).hexdigest()
    return f"/tmp/gonka-deployment-{key}.lock"


@pytest.fixture
def world(tmp_path):
    """A lock dir, a deploy/join, a stand-in Docker daemon (a fresh id per test), and a process
    standing in for the SSH session (killed at the end, with every holder the test started;
    the lock-b files the test's daemon id made are removed)."""
    (tmp_path / "join").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "bin" / "docker").chmod(0o755)
    daemon = f"TEST:{os.urandom(6).hex()}"
    env = {k: v for k, v in os.environ.items() if k not in LOCK_VARS}
    env.update(PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", FAKE_DAEMON=daemon,
               FAKE_CALLS=str(tmp_path / "docker-calls"))
    sessions = []

    def session() -> subprocess.Popen:
        proc = subprocess.Popen(["sleep", "300"])
        sessions.append(proc)
        return proc

    yield {"dir": str(tmp_path / "lock"), "join": str(tmp_path / "join"), "session": session,
           "env": env, "daemon": daemon, "calls": tmp_path / "docker-calls"}
    for proc in sessions:
        proc.kill()
        proc.wait()
    for path in Path("/tmp").glob("gonka-deployment-*.lock"):
        if any(path.name == Path(lock_b(daemon, p)).name
               for p in ("join", "join2", "p2", "gp", "cp", "fromfile", "routed")):
            path.unlink(missing_ok=True)


def acquire(world, session, run_id="run-1", who="ana@laptop", *extra,
            env: dict | None = None) -> tuple[int, dict]:
    return runlock("acquire", "--run-id", run_id, "--who", who, "--deploy", "deploys/node.py",
                   "--lock-dir", world["dir"], "--join", world["join"],
                   "--watch", str(session.pid), *extra, env={**world["env"], **(env or {})})


def status(world, *extra, env: dict | None = None) -> dict:
    rc, doc = runlock("status", "--lock-dir", world["dir"], "--join", world["join"], *extra,
                      env={**world["env"], **(env or {})})
    assert rc == 0
    return doc


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
    assert doc["held"] == [f"{world['dir']}/gonka-deploy.lock", lock_a,
                           lock_b(world["daemon"], "join")]
    assert doc["skipped"] == {}

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
    assert rc == 0 and again["held"] == [] and len(again["already"]) == 3


def test_the_lock_is_free_again_when_the_watched_session_ends(world):
    session = world["session"]()
    rc, doc = acquire(world, session)
    assert rc == 0
    session.kill()
    session.wait()
    assert wait_free(f"{world['dir']}/gonka-deploy.lock"), "the dead run's lock stayed held"
    assert wait_free(f"{world['join']}/.gonka-deployment.lock")
    found = status(world)
    assert found["holder"] is None and all(lock["holder"] is None for lock in found["locks"])
    rc, next_run = acquire(world, world["session"](), "run-2", "bob@desk")
    assert rc == 0 and next_run["ok"]


def test_an_upstream_script_holding_its_lock_refuses_the_apply_and_is_named(world):
    if not shutil.which("flock"):
        unavailable("util-linux flock is missing")
    lock_a = f"{world['join']}/.gonka-deployment.lock"
    Path(lock_a).touch()
    # blocking, unlike upstream's `flock -n`: the probe below takes the lock for an instant, and
    # a non-blocking stand-in that started in that instant would give up (a flaky test)
    upstream = subprocess.Popen(["flock", lock_a, "sleep", "300"])
    try:
        deadline = time.monotonic() + 10
        while flock_n(lock_a) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = status(world)
        held = {lock["kind"]: lock["holder"] for lock in found["locks"]}
        assert held["upstream-a"]["pid"] == upstream.pid, found
        rc, refused = acquire(world, world["session"]())
        assert rc == 1 and refused["kind"] == "upstream-a", refused
        assert refused["locker"] == {"pid": upstream.pid,
                                     "cmd": f"flock {lock_a} sleep 300"}
        assert "an upstream deploy script" in refusal_message(refused)
        # the refused run let go of the toolkit lock it had taken first
        assert wait_free(f"{world['dir']}/gonka-deploy.lock")
    finally:
        upstream.kill()
        upstream.wait()


def test_status_only_reads(world):
    assert status(world)["holder"] is None
    assert not Path(world["dir"]).exists()
    assert not Path(world["join"], ".gonka-deployment.lock").exists()


def test_lock_b_is_upstreams_path_for_the_docker_daemon_and_project(world):
    """With a Docker daemon, lock-b's path: sha256 of "<daemon id>\\n<project>\\n" (as
    upstream's `printf '%s\\n%s\\n' | sha256sum`), the project from the proxy container's
    compose label."""
    shell = subprocess.run(["sh", "-c", "printf '%s\\n%s\\n' \"$1\" join2 | sha256sum", "_",
                            world["daemon"]], capture_output=True, text=True).stdout.split()[0]
    path = lock_b(world["daemon"], "join2")
    assert path == f"/tmp/gonka-deployment-{shell}.lock"
    session = world["session"]()
    rc, doc = acquire(world, session, env={"FAKE_LABELS": "proxy=join2"})
    assert rc == 0 and path in doc["held"], doc
    assert flock_n(path) == 1
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"  # as upstream's umask 022 makes it


# --- upstream's lock paths, resolved as deployment-lock.sh resolves them ----------------------

def upstream_b(found: dict) -> list[str]:
    return [lock["path"] for lock in found["locks"] if lock["kind"] == "upstream-b"]


@pytest.mark.parametrize("env,extra,project", [
    ({}, [], "join"),                                                    # no label: basename
    ({"FAKE_LABELS": "proxy=join2,versiond=other"}, [], "join2"),        # proxy's label first
    ({"FAKE_LABELS": "versiond=other"}, [], "other"),                    # then versiond's
    ({"FAKE_LABELS": "proxy=<no value>,versiond=other"}, [], "other"),   # an unset label
    ({"FAKE_LABELS": "router=routed", "PROXY_ROUTER_CONTAINER": "router"}, [], "routed"),
    ({"COMPOSE_PROJECT_NAME": "cp", "FAKE_LABELS": "proxy=join2"}, [], "cp"),
    ({"COMPOSE_PROJECT_NAME": "cp", "GONKA_DEPLOYMENT_PROJECT": "gp"}, [], "gp"),
    ({"GONKA_DEPLOYMENT_PROJECT": "gp"}, ["--project", "p2"], "p2"),    # upstream's $2 wins
])
def test_lock_b_takes_the_project_from_upstreams_sources_in_its_order(world, env, extra,
                                                                      project):
    assert upstream_b(status(world, *extra, env=env)) == [lock_b(world["daemon"], project)]


def test_a_named_project_asks_the_daemon_only_for_its_id(world):
    status(world, env={"COMPOSE_PROJECT_NAME": "cp"})
    assert world["calls"].read_text().splitlines() == ["info --format {{.ID}}"]


def test_docker_bin_is_the_docker_asked(world, tmp_path):
    other = tmp_path / "other-docker"
    other.write_text(FAKE_DOCKER)
    other.chmod(0o755)
    env = {"DOCKER_BIN": str(other), "PATH": "/usr/bin:/bin", "FAKE_DAEMON": "OTHER:1"}
    assert upstream_b(status(world, env=env)) == [lock_b("OTHER:1", "join")]


def test_gonka_deployment_lock_is_both_paths_and_the_daemon_is_not_asked(world, tmp_path):
    path = str(tmp_path / "deployment.lock")
    env = {"GONKA_DEPLOYMENT_LOCK": path, "FAKE_INFO_RC": "1"}
    rc, doc = acquire(world, world["session"](), env=env)
    assert rc == 0, doc
    assert doc["held"] == [f"{world['dir']}/gonka-deploy.lock", path]  # one flock, not two
    assert flock_n(path) == 1
    assert not world["calls"].exists()


@pytest.mark.parametrize("env,why", [
    ({"FAKE_INFO_RC": "1", "FAKE_DAEMON": "Cannot connect to the Docker daemon"},
     "cannot identify the Docker daemon"),
    ({"FAKE_DAEMON": ""}, "empty Docker daemon identity"),
    ({"DOCKER_BIN": "/nonexistent/docker"}, "cannot identify the Docker daemon"),
    ({"FAKE_INSPECT_ERR": "permission denied while trying to connect to the Docker daemon"},
     "cannot inspect proxy: permission denied"),
])
def test_an_unresolvable_lock_b_refuses_the_run_and_takes_nothing(world, env, why):
    """Upstream refuses when it cannot resolve its lock; so does the run (before, it went on
    without lock-b, and an upstream script could run beside it)."""
    rc, doc = acquire(world, world["session"](), env=env)
    assert rc == 1 and not doc["ok"] and why in doc["error"], doc
    assert refusal_message(doc).startswith("run lock: upstream's deployment lock: ")
    assert not Path(world["dir"]).exists()  # nothing created, nothing taken
    assert not Path(world["join"], ".gonka-deployment.lock").exists()
    assert why in status(world, env=env)["error"]  # the preview meets the same refusal


def test_config_env_is_read_as_upstreams_updaters_source_it(world):
    """update-devshard.sh sources config.env (set -a) before it takes the lock; a script that
    does not sees the environment alone: both paths are held."""
    Path(world["join"], "config.env").write_text(
        "export KEYRING_PASSWORD='s3cret-not-read'\n# COMPOSE_PROJECT_NAME=commented\n"
        "export COMPOSE_PROJECT_NAME='fromfile'  # the stack's name\n")
    found = status(world)
    assert upstream_b(found) == [lock_b(world["daemon"], "join"),
                                 lock_b(world["daemon"], "fromfile")]
    assert "s3cret" not in json.dumps(found)
    rc, doc = acquire(world, world["session"]())
    assert rc == 0 and lock_b(world["daemon"], "fromfile") in doc["held"]


@pytest.mark.parametrize("line", [
    "export COMPOSE_PROJECT_NAME=$(hostname)",
    "COMPOSE_PROJECT_NAME=\"${USER}-stack\"",
    ": ${GONKA_DEPLOYMENT_LOCK:=/tmp/x.lock}",
    "A=1; PROXY_ROUTER_CONTAINER=router",
    "export DOCKER_BIN=two words",
])
def test_a_config_env_value_only_a_shell_could_evaluate_refuses(world, line):
    Path(world["join"], "config.env").write_text(f"export KEY_NAME=fra-01\n{line}\n")
    rc, doc = acquire(world, world["session"]())
    assert rc == 1 and "config.env line 2" in doc["error"], doc
    assert not Path(world["dir"]).exists()


def test_without_an_ssh_session_nothing_is_taken(world):
    rc, doc = runlock("acquire", "--run-id", "r", "--who", "w", "--lock-dir", world["dir"])
    assert rc == 1 and "not started over SSH" in doc["error"]
    assert not Path(world["dir"]).exists()


def test_acquire_command_names_the_run_the_deploy_and_deploy_join():
    text = acquire_command("deploys/node.py", "/j", "/run/lock").get_raw_value()
    assert " acquire --run-id " in text and "--deploy deploys/node.py" in text
    assert "--join /j" in text
