#!/usr/bin/env python3
"""Fleet no-op figures (prints them; not a test): how the cost of a converge grows with the fleet.

    .venv/bin/python bench/noop.py [--hosts 20] [--rtt-ms 50] [--runs 3]    (or `make bench`)

Brings up N sandbox hosts (real sshd in namespaces, from the plain base: Phase 1 installs Docker
Engine and Compose) and the machine-side services (apt cache, registry, seed sim, HF endpoint,
git daemon); with --rtt-ms each host's SSH goes through a relay on 127.0.0.1 that adds that
round trip (sandbox/bench/latency.py: the kernel here has no netem). Then:

- the first apply of deploys/node.py on all N hosts at once (wall time, remote commands);
- the no-op converge `--runs` times on N hosts and on 1 of them (its own one-host inventory):
  remote commands per host (GONKA_DEPLOY_COUNT_COMMANDS, gonka_deploy/counting.py), wall time
  min/median/max, the N/1 ratio, and the controller's CPU seconds per host (user+sys of the
  pyinfra process, resource.getrusage of the child). Each no-op must report no change.
- with --compare, the same no-op runs again as before issue 15 (GONKA_DEPLOY_FACT_CACHE=0:
  every fact its own round trip; GONKA_DEPLOY_BARRIERS=1: pyinfra's barrier per operation).

Needs root and the Debian packages of scripts/debian-deps.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from pprint import pformat

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "sandbox")]


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def apply(inventory: Path, env: dict, counts: Path, extra: list[str] = ()) -> dict:
    """One `pyinfra INVENTORY deploys/node.py -y`: wall, CPU, rc, totals, remote commands
    (kept in `counts`, with each command's first characters and seconds)."""
    argv = [sys.executable, "-m", "pyinfra", str(inventory), "deploys/node.py", "-y", *extra]
    cpu0, t0 = cpu_children(), time.monotonic()
    p = subprocess.run(argv, cwd=REPO, env={**env, "GONKA_DEPLOY_COUNT_COMMANDS": str(counts)},
                       capture_output=True, text=True, timeout=3600)
    wall, cpu = time.monotonic() - t0, cpu_children() - cpu0
    text = p.stdout + p.stderr
    total = re.findall(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text)
    per_host = json.loads(counts.read_text()) if counts.exists() else {}
    return {"rc": p.returncode, "wall": wall, "cpu": cpu, "text": text,
            "total": total[-1] if total else None, "counts": per_host}


def commands(run: dict) -> str:
    n = [c["commands"] for c in run["counts"].values()] or [0]
    t = [c["transfers"] for c in run["counts"].values()] or [0]
    return (f"remote commands per host {statistics.mean(n):.1f} (min {min(n)}, max {max(n)}), "
            f"file transfers per host {statistics.mean(t):.1f}")


def report(what: str, run: dict, hosts: int) -> None:
    h, success, error, no_change = run["total"] or ("?",) * 4
    print(f"{what}: {run['wall']:.1f} s wall, controller CPU {run['cpu']:.2f} s "
          f"({run['cpu'] / hosts:.2f} s per host), rc {run['rc']}; operations changed "
          f"{success}, failed {error}, no change {no_change}; {commands(run)}", flush=True)


def check(run: dict, noop: bool) -> None:
    if run["rc"]:
        print(run["text"][-6000:], file=sys.stderr)
        raise SystemExit(f"pyinfra failed (rc {run['rc']})")
    if noop and run["total"] and run["total"][1] != "-":
        print(run["text"][-6000:], file=sys.stderr)
        raise SystemExit("a no-op apply changed something")


def listen_drops() -> dict[str, int]:
    """The machine's TCP accept-queue overflows and drops (root network namespace, where the
    sandbox services listen; machine-wide, so other sandboxes count too)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
             if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))
    return {k: values.get(k, 0) for k in ("ListenOverflows", "ListenDrops")}


def spread(values: list[float]) -> str:
    return (f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, "
            f"max {max(values):.1f} s")


def noops(runs: int, n: int, full: Path, single: Path, env: dict, counts: Path,
          label: str) -> None:
    walls: dict[int, list[float]] = {n: [], 1: []}
    cpus: dict[int, list[float]] = {n: [], 1: []}
    tag = "before" if label else "now"
    for i in range(runs):
        for size, inv in ((n, full), (1, single)):
            run = apply(inv, env, counts / f"noop-{tag}-{size}-{i + 1}.json")
            report(f"no-op {i + 1}, {size} host{'s' if size > 1 else ''}{label}", run, size)
            check(run, noop=True)
            walls[size].append(run["wall"])
            cpus[size].append(run["cpu"] / size)
    print(f"no-op wall{label}, {n} hosts: {spread(walls[n])}", flush=True)
    print(f"no-op wall{label}, 1 host: {spread(walls[1])}", flush=True)
    print(f"ratio{label} {n} hosts / 1 host (medians): "
          f"{statistics.median(walls[n]) / statistics.median(walls[1]):.2f}", flush=True)
    print(f"controller CPU per host per no-op{label}: {statistics.median(cpus[n]):.2f} s "
          f"({n} hosts), {statistics.median(cpus[1]):.2f} s (1 host); "
          f"machine load now {load()}", flush=True)


def one_host_inventory(full: Path, out: Path) -> Path:
    """The first host of `full` alone, in its own inventories/ (same group name, same group
    data, same host data: the same node as in the fleet run)."""
    first = runpy.run_path(str(full))["sandbox_hosts"][0]
    inv = out / "inventories" / "sandbox.py"
    (out / "inventories" / "group_data").mkdir(parents=True, exist_ok=True)
    gd = full.parent / "group_data" / "sandbox.py"
    (out / "inventories" / "group_data" / "sandbox.py").write_text(gd.read_text())
    inv.write_text(f"sandbox_hosts = [\n    {pformat(first, width=94)},\n]\n")
    return inv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=20, help="fleet size N (default 20)")
    ap.add_argument("--rtt-ms", type=float, default=0, help="round trip added to each SSH")
    ap.add_argument("--runs", type=int, default=3, help="no-op runs per fleet size")
    ap.add_argument("--compare", action="store_true",
                    help="also measure the no-op without the fact cache and with barriers")
    ap.add_argument("--docker", action="store_true",
                    help="hosts with Docker preinstalled (a shorter first apply)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, loop devices)", file=sys.stderr)
        return 1
    from sandbox.bench import Fleet, inventory
    from sandbox.bench.latency import Relays
    from sandbox.bench.services import start_services

    fleet, relays = Fleet(mode="netns"), None
    try:
        fleet.start()
        hosts = fleet.add(args.hosts, docker=args.docker)
        state: dict = {"services": []}
        start_services(fleet, state)
        ssh = None
        if args.rtt_ms:
            relays = Relays(args.rtt_ms)
            ssh = {h.name: ("127.0.0.1", relays.add(h.address, h.port)) for h in hosts}
        out = Path(tempfile.mkdtemp(prefix="gonka-bench-noop-"))
        inventory.write(out, hosts, str(fleet.key), fleet.gateway,
                        gonka_ref=state.get("gonka_ref"),
                        model=state.get("model", inventory.DEFAULT_MODEL),
                        model_commit=state.get("model_commit"),
                        images=inventory.standin_images(fleet.images), ssh=ssh)
        full = out / "inventories" / "sandbox.py"
        single = one_host_inventory(full, out / "one")
        env = dict(os.environ, GONKA_SECRETS_DIR=str(out / "secrets"),
                   GONKA_STATE_DIR=str(out / "nodes"), PYTHONPATH=str(REPO))
        counts = out / "counts"
        counts.mkdir()
        n = args.hosts
        print(f"{n} hosts, added RTT {args.rtt_ms:g} ms, machine load {load()} "
              f"({os.cpu_count()} CPUs)", flush=True)
        drops = listen_drops()
        first = apply(full, env, counts / "first.json")
        report(f"first apply, {n} hosts", first, n)
        after = listen_drops()
        print("  accept queues during it (machine-wide): "
              + ", ".join(f"{k} +{after[k] - drops[k]}" for k in after), flush=True)
        check(first, noop=False)
        modes = [("", {})]
        if args.compare:
            modes.append((" [before: no fact cache, barriers]",
                          {"GONKA_DEPLOY_FACT_CACHE": "0", "GONKA_DEPLOY_BARRIERS": "1"}))
        for label, extra in modes:
            noops(args.runs, n, full, single, {**env, **extra}, counts, label)
        print(f"(inventories, node state, and in counts/ each run's commands: {out})", flush=True)
        return 0
    finally:
        if relays:
            relays.close()
        fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
