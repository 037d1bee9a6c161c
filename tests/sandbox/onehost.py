"""One converged sandbox host driven by the real pyinfra CLI: the context the MLNode tests
(upgrade, swap) share, and their small helpers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.conftest import REPO

ACCOUNT_PUBKEY = "A7VwCjbb0FCH8pUL0DoJ1Mx2Hj1Fz0ltsnJ1QSy9kN1u"


def converged(fleet, network, tmp_path_factory, *, prefix: str, group: str, password: str,
              mlnode_versions: list[dict], sim: dict | None = None, **data) -> dict:
    """A new host (named ``<prefix>…``) in inventory group ``group`` with one ML node, applied
    once with deploys/node.py: {host, data, inventory, env, group}."""
    (host,) = fleet.add(1, prefix=prefix, docker=True, sim=sim)
    state_dir = tmp_path_factory.mktemp("nodes")
    data = {**host.ssh_data("ubuntu"), **network["group_data"],
            "key_name": f"e2e-{host.name}", "public_host": host.address,
            "account_pubkey": ACCOUNT_PUBKEY,
            "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [network["model"]]}],
            "mlnode_versions": mlnode_versions, **data}
    ctx = {"host": host, "data": data, "group": group,
           "inventory": tmp_path_factory.mktemp("inv") / f"{prefix}.py",
           "env": dict(os.environ, GONKA_STATE_DIR=str(state_dir), GONKA_KEYRING_PASSWORD=password,
                       GONKA_SECRETS_DIR=str(state_dir / "none"))}
    write_inventory(ctx)
    rc, out = pyinfra(ctx, "deploys/node.py")
    assert rc == 0, out[-4000:]
    return ctx


def write_inventory(ctx) -> None:
    ctx["inventory"].write_text(f"{ctx['group']} = {[(ctx['host'].name, ctx['data'])]!r}\n")


def pyinfra(ctx, deploy: str, *args) -> tuple[int, str]:
    # --dry with -y skips pyinfra's change detection: a dry run must print what it would do
    yes = [] if "--dry" in args else ["-y"]
    argv = [sys.executable, "-m", "pyinfra", str(ctx["inventory"]), str(REPO / deploy), *yes,
            *args]
    p = subprocess.run(argv, cwd=REPO, env=ctx["env"], capture_output=True, text=True,
                       timeout=600)
    return p.returncode, p.stdout + p.stderr


def no_changes(out: str) -> bool:
    total = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", out)
    return bool(total) and total.group(2) == "-" and total.group(3) == "-"


def wait_for(what: str, check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)  # poll interval of a bounded wait
    raise AssertionError(f"timed out waiting for {what}")
