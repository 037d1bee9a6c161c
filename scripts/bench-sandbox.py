#!/usr/bin/env python3
"""Sandbox figures (prints them; not a test): how long a fleet of 2 and of 20 hosts takes to
come up, a first apply and a no-op apply of deploys/node.py on 2 hosts (from the plain base,
so Phase 1 installs Docker Engine and Compose), then, with the full stack running, the disk and
the memory each host uses. Needs root and the Debian packages of scripts/debian-deps.sh.

    .venv/bin/python scripts/bench-sandbox.py [--big 20] [--small 2]

Disk per host: its dockerd's data-root (<host dir>/docker, on the machine's disk) plus its
overlay upper layer (what the host wrote over the shared base: packages, venvs, the clone, the
data disk's files are in the sparse image, counted by its allocated blocks). Memory per host:
the proportional set size (PSS, shared pages split between their users) of every process
descended from the host's PID 1: sshd, dockerd, containerd, shims and every container.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "sandbox")]


def du(path: Path) -> int:
    """Bytes allocated under path (sparse files count their blocks)."""
    out = subprocess.run(["du", "-s", "-B1", "-x", str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout else 0


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def timed(what: str, fn):
    t0 = time.monotonic()
    result = fn()
    print(f"{what}: {time.monotonic() - t0:.1f} s", flush=True)
    return result


def pyinfra(inventory: Path, env: dict) -> tuple[int, str]:
    argv = [sys.executable, "-m", "pyinfra", str(inventory), "deploys/node.py", "-y"]
    p = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    return p.returncode, p.stdout + p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=2)
    ap.add_argument("--big", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, loop devices)", file=sys.stderr)
        return 1
    from sandbox.bench import Fleet, inventory
    from sandbox.bench.services import start_services

    fleet = Fleet(mode="netns")
    try:
        timed("machine side up (bridge, apt cache, egress proxy, registry with the stand-ins)",
              fleet.start)
        for n in (args.small, args.big):
            hosts = timed(f"{n} hosts up (each answers SSH)", lambda n=n: fleet.add(n, "up"))
            timed(f"{n} hosts removed", lambda h=hosts: fleet.remove(h))
        hosts = timed(f"{args.small} hosts up for the apply", lambda: fleet.add(args.small))
        state: dict = {"services": []}
        timed("seed sim, HF endpoint, git daemon", lambda: start_services(fleet, state))
        out = Path(tempfile.mkdtemp(prefix="gonka-bench-"))
        inventory.write(out, hosts, str(fleet.key), fleet.gateway,
                        gonka_ref=state.get("gonka_ref"),
                        model=state.get("model", inventory.DEFAULT_MODEL),
                        model_commit=state.get("model_commit"),
                        images=inventory.standin_images(fleet.images),
                        alerting=inventory.standin_exporter(fleet.images))
        env = dict(os.environ, GONKA_SECRETS_DIR=str(out / "secrets"),
                   GONKA_STATE_DIR=str(out / "nodes"), PYTHONPATH=str(REPO))
        inv = out / "inventories" / "sandbox.py"
        for what in ("first apply (phases 1-7, Docker installed)", "no-op apply"):
            rc, text = timed(f"{what}, {args.small} hosts", lambda: pyinfra(inv, env))
            total = [line for line in text.splitlines() if "Grand total" in line]
            print(f"  rc {rc}; {total[-1].strip() if total else 'no total'}", flush=True)
            if rc:
                print(text[-4000:], file=sys.stderr)
                return 1
        from sandbox.bench.proc import descendants, process_table

        table = process_table()
        for h in hosts:
            root = Path(h.dir)
            docker, upper, disk = du(root / "docker"), du(root / "upper"), du(root / "disk.img")
            pids = descendants(h.pid, table)
            print(f"{h.name}: disk {mib(docker + upper)} (docker data-root {mib(docker)}, "
                  f"overlay upper {mib(upper)}; data disk image {mib(disk)} allocated), "
                  f"memory {mib(pss_bytes(pids))} PSS in {len(pids)} processes", flush=True)
        return 0
    finally:
        fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
