"""Shared pytest fixtures. Kept light: unit tests load this too, so the sandbox bench is only
imported inside the fixtures that need it.

Sandbox fixtures (mark tests using them with @pytest.mark.sandbox):
    fleet          session: one bridge, apt proxy and egress proxy; base rootfs built once
    nspawn_fleet   session: the same with systemd as PID 1 in each host (systemctl works)
    ssh_hosts      ssh_hosts(n, sim=None, prefix="gpu") -> [Host]; removed after the test
    run_pyinfra    run_pyinfra(hosts, deploy, *args, data=None, group_data_dir=None)
                   -> (rc, stdout+stderr) of the real pyinfra CLI over real SSH
They skip with the reason where the machine cannot host them; in CI (CI=true) they fail
instead: a test that cannot set up its hosts there has not tested anything.
    reference      reference("gpu", "nvidia-smi.txt") -> Path under tests/reference (verbatim
                   captures stored in the repo; tests/reference/SOURCES.md says whence)
Marker:
    @pytest.mark.needs("git", "/usr/sbin/nginx", root=True)
                   the programs (on PATH, or a path) and root a test needs: missing, it skips
                   with the reason; in CI it fails. Every program named so is installed by
                   scripts/debian-deps.sh or the venv.
Env: GONKA_SANDBOX_MODE=netns|nspawn|lo (default netns), GONKA_SANDBOX_DIR (base/key cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "tests" / "reference"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str):
    """Skip where the machine cannot run this test; fail in CI, where it must."""
    if in_ci():
        pytest.fail(f"CI cannot run this test: {reason}", pytrace=False)
    pytest.skip(reason)


def missing_needs(tools: tuple[str, ...], root: bool = False) -> str | None:
    """Why this machine lacks what a `needs` marker names, or None."""
    for tool in tools:
        if not (os.path.exists(tool) if "/" in tool else shutil.which(tool)):
            return f"needs `{tool}` (scripts/debian-deps.sh or the venv installs it)"
    if root and os.geteuid() != 0:
        return "needs root"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*programs, root=False): programs (on PATH or a "
                            "path) and root the test needs; missing: skip, or fail in CI")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        why = missing_needs(mark.args, **mark.kwargs)
        if why:
            unavailable(why)


def reference_path(*parts: str) -> Path:
    """A path under tests/reference (data stored in the repo): a missing one is an error."""
    path = REFERENCE.joinpath(*parts)
    assert path.is_file(), f"{path} is missing from the repository"
    return path


@pytest.fixture(scope="session")
def reference():
    """reference(*parts) -> Path under tests/reference."""
    return reference_path


def sandbox_unavailable(mode: str = "netns") -> str | None:
    """Why this machine cannot run sandbox hosts in this mode, or None."""
    if os.geteuid() != 0:
        return "sandbox hosts need root (namespaces, loop devices, overlayfs)"
    for tool in ("mmdebstrap", "unshare", "ip", "losetup", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"sandbox hosts need `{tool}` (apt-get install mmdebstrap)"
    if not os.path.exists("/usr/sbin/apt-cacher-ng"):
        return "sandbox hosts need apt-cacher-ng (apt-get install apt-cacher-ng)"
    if mode == "nspawn" and not shutil.which("systemd-nspawn"):
        return "mode nspawn needs systemd-nspawn (apt-get install systemd-container)"
    return None


def _start_fleet(mode: str):
    why = sandbox_unavailable(mode)
    if why:
        unavailable(why)
    from sandbox.bench import Fleet

    fleet = Fleet(mode=mode)
    try:
        fleet.start()        # also gc()s fleets left by dead owners
    except Exception as e:   # e.g. the base rootfs cannot be built (no mirror)
        fleet.stop()
        unavailable(f"sandbox fleet cannot start: {e}")
    return fleet


@pytest.fixture(scope="session")
def fleet():
    f = _start_fleet(os.environ.get("GONKA_SANDBOX_MODE", "netns"))
    yield f
    f.stop()


@pytest.fixture(scope="session")
def nspawn_fleet():
    f = _start_fleet("nspawn")
    yield f
    f.stop()


@pytest.fixture
def ssh_hosts(fleet):
    """Factory: fresh hosts for this test only."""
    made = []

    def make(n: int = 1, sim: dict | None = None, prefix: str = "gpu"):
        hosts = fleet.add(n, prefix=prefix, sim=sim)
        made.extend(hosts)
        return hosts

    yield make
    fleet.remove(made)


@pytest.fixture
def run_pyinfra(tmp_path):
    """Run the real pyinfra CLI on a generated inventory; returns (rc, stdout+stderr).

    inventory_hosts: Host objects (logged in as `user`) or ("name", data) tuples.
    data: merged into every host's data. group_data_dir: passed as --group-data.
    cwd: defaults to the repo root (so its group_data/ applies, as for an operator).
    """
    counter = iter(range(1, 1000))

    def run(inventory_hosts, deploy_path, *args, data=None, group_data_dir=None, cwd=None,
            user="root", timeout=600, yes=True, env=None):
        entries = []
        for h in inventory_hosts:
            name, hdata = (h if isinstance(h, tuple) else (h.name, h.ssh_data(user)))
            entries.append((name, {**hdata, **(data or {})}))
        inv = tmp_path / f"inventory_{next(counter)}" / "sandbox_test.py"
        inv.parent.mkdir()
        inv.write_text(f"sandbox_test_hosts = {entries!r}\n")
        argv = [sys.executable, "-m", "pyinfra", str(inv), str(deploy_path),
                *(["-y"] if yes else []), *args]
        if group_data_dir:
            argv[3:3] = ["--group-data", str(group_data_dir)]
        env = dict(os.environ, **(env or {}), PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           cwd=str(cwd or REPO), env=env)
        return p.returncode, p.stdout + p.stderr

    return run
