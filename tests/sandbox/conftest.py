"""Helpers for sandbox tests: record what a fleet holds on the machine, and list what of it is
still there after teardown (mounts, loop devices, netns, links, processes, files)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def _out(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def _processes_in(fleet_dir: str) -> list[int]:
    """PIDs whose environment says they belong to a host of this fleet (host-init.sh exports
    SB_DIR, which tini and sshd inherit)."""
    needle = f"SB_DIR={fleet_dir}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if any(v.startswith(needle) for v in env.split(b"\0")):
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def fleet_traces(fleet) -> dict:
    """What a running fleet holds on the machine."""
    from sandbox.bench.fleet import cgroup_dirs

    return {
        "cgroups": [str(d) for h in fleet.hosts for d in cgroup_dirs(fleet.slot, h.name)],
        "dir": str(fleet.dir),
        "loops": [h.disk for h in fleet.hosts if h.disk],
        "netns": [h.netns for h in fleet.hosts if h.netns],
        "links": [h.veth for h in fleet.hosts if h.veth]
        + ([fleet.bridge] if fleet.mode != "lo" else []),
        "pids": [h.pid for h in fleet.hosts] + list(fleet.services.values())
        + _processes_in(str(fleet.dir)),
        "claim": f"/run/gonka-sandbox/slot-{fleet.slot}",
    }


def leftovers(traces: dict) -> list[str]:
    """Everything in traces still present on the machine (empty list = clean)."""
    left = []
    mounts = Path("/proc/mounts").read_text()
    if traces["dir"] in mounts:
        left.append("mounts under " + traces["dir"])
    loops = _out("losetup", "-a")
    left += [f"loop {d}" for d in traces["loops"] if f"{d}:" in loops]
    netns = _out("ip", "netns", "list").split()
    left += [f"netns {n}" for n in traces["netns"] if n in netns]
    links = _out("ip", "-o", "link", "show")
    left += [f"link {n}" for n in traces["links"] if f" {n}:" in links or f" {n}@" in links]
    left += [f"process {p}" for p in traces["pids"] if _alive(p)]
    left += [f"process {p} (host)" for p in _processes_in(traces["dir"])]
    left += [f"path {p}" for p in (traces["dir"], traces["claim"]) if os.path.exists(p)]
    left += [f"cgroup {p}" for p in traces.get("cgroups", []) if os.path.exists(p)]
    return left


@pytest.fixture
def machine_traces():
    """(fleet_traces, leftovers) for tests that check teardown."""
    return fleet_traces, leftovers


@pytest.fixture(scope="session")
def sandbox_network(fleet):
    """The network services hosts use (seed sim, a throttled HF endpoint, the stand-in gonka
    repo over git), started once; returns the sandbox group data for deploys."""
    from sandbox.bench import inventory
    from sandbox.bench.services import start_services

    state = {"services": []}
    # Throttled and a little larger than the default, so a download is still running when a
    # test cuts the SSH connection.
    start_services(fleet, state, hf_args=["--bandwidth", str(3 * 1024 * 1024),
                                          "--size", str(12 * 1024 * 1024)])
    data = inventory.group_data(fleet.gateway, state["gonka_ref"], state["model"],
                                state["model_commit"], inventory.standin_images(fleet.images),
                                inventory.standin_exporter(fleet.images))
    return {"group_data": data, "model": state["model"], "model_commit": state["model_commit"],
            "gonka_ref": state["gonka_ref"]}
