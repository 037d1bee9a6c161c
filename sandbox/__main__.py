"""python3 -m sandbox: a local sandbox of real SSH hosts to deploy to (needs root).

    up N [--mode netns|nspawn|lo] [--disk-size 1G]   start N hosts + machine-side services,
                                    write inventories/sandbox.py; returns once all answer SSH
    status                          what is running
    ssh NAME [cmd ...]              a shell (or a command) on a host, as root
    down                            tear everything down and remove the generated files
    gc                              tear down fleets whose owner died (crashed run, kill -9)

`up` leaves a small keeper process owning the fleet; `down` stops it, and the keeper tears the
fleet down by PID. State: .sandbox/ at the repo root; $GONKA_SANDBOX_OUT moves it, and the
generated inventories/ and secrets/, elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent
REPO = SANDBOX.parent
# where .sandbox/, inventories/ and secrets/ go (tests point it at a temp dir)
OUT = Path(os.environ.get("GONKA_SANDBOX_OUT") or REPO)
STATE_DIR = OUT / ".sandbox"
STATE = STATE_DIR / "state.json"
KEEPER_LOG = STATE_DIR / "keeper.log"
UP_TIMEOUT = 600          # the first `up` builds the base rootfs (about a minute)


def _read_state() -> dict | None:
    try:
        return json.loads(STATE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(state: dict) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.rename(STATE)


def _keeper_alive(state: dict | None) -> bool:
    from sandbox.bench.proc import owner_alive

    return bool(state) and owner_alive(state.get("keeper", ""))


# ---------------------------------------------------------------- keeper (background)
def keeper(n: int, mode: str, disk_size: str) -> int:
    from sandbox.bench import Fleet, inventory
    from sandbox.bench.proc import owner_token
    from sandbox.bench.services import start_services

    def on_signal(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    state = {"keeper": owner_token(os.getpid()), "ready": False, "mode": mode,
             "services": [], "written": []}
    _write_state(state)
    fleet = Fleet(mode=mode, disk_size=disk_size)
    try:
        t0 = time.monotonic()
        fleet.start()
        state["services"] += [f"apt-cacher-ng   http://{fleet.gateway}:3142",
                              f"egress proxy    http://{fleet.gateway}:3128 (PyPI only)"]
        hosts = fleet.add(n)
        start_services(fleet, state)
        written = inventory.write(OUT, hosts, str(fleet.key), fleet.gateway,
                                  gonka_ref=state.get("gonka_ref"),
                                  model=state.get("model", inventory.DEFAULT_MODEL),
                                  model_commit=state.get("model_commit"),
                                  images=inventory.standin_images(fleet.images),
                                  alerting=inventory.standin_exporter(fleet.images))
        state.update(ready=True, up_seconds=round(time.monotonic() - t0, 2),
                     gateway=fleet.gateway, key=str(fleet.key), fleet_dir=str(fleet.dir),
                     written=[str(p) for p in written],
                     hosts=[{"name": h.name, "address": h.address, "disk": h.disk}
                            for h in hosts])
        _write_state(state)
        while True:
            signal.pause()
    except SystemExit:
        return 0
    except BaseException as e:
        state["error"] = f"{type(e).__name__}: {e}"
        _write_state(state)
        raise
    finally:
        fleet.stop()


# ---------------------------------------------------------------- commands
def cmd_up(a) -> int:
    if os.geteuid() != 0:
        print("the sandbox needs root (namespaces, loop devices)", file=sys.stderr)
        return 1
    state = _read_state()
    if _keeper_alive(state):
        print("the sandbox is already up; run `python3 -m sandbox down` first", file=sys.stderr)
        return 1
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE.unlink(missing_ok=True)
    with open(KEEPER_LOG, "wb") as log:
        p = subprocess.Popen([sys.executable, "-m", "sandbox", "_keeper", str(a.n), a.mode,
                              a.disk_size], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + UP_TIMEOUT
    shown = 0
    while True:
        text = KEEPER_LOG.read_text(errors="replace")
        sys.stderr.write(text[shown:])        # progress (e.g. the base rootfs build)
        shown = len(text)
        state = _read_state()
        if state and state.get("ready"):
            break
        if p.poll() is not None or time.monotonic() > deadline:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)
            print(f"sandbox up failed; log: {KEEPER_LOG}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    _summary(state)
    return 0


def _summary(state: dict) -> None:
    print(f"sandbox up in {state['up_seconds']} s (mode {state['mode']}), "
          f"machine = {state['gateway']}")
    for h in state["hosts"]:
        print(f"  {h['name']:8} {h['address']:16} python3 -m sandbox ssh {h['name']}   "
              f"(user ubuntu has sudo; data disk /dev/vdb)")
    for s in state["services"]:
        print(f"  {s}")
    print("  inventory: inventories/sandbox.py (+ inventories/group_data/sandbox.py, secrets/)")
    print(f"  key: {state['key']}")


def cmd_status(a) -> int:
    state = _read_state()
    if not _keeper_alive(state):
        print("down" + (" (stale state; run `python3 -m sandbox down`)" if state else ""))
        return 0
    if not state.get("ready"):
        print("starting")
        return 0
    _summary(state)
    return 0


def cmd_down(a) -> int:
    from sandbox.bench import gc

    state = _read_state()
    if _keeper_alive(state):
        from sandbox.bench.proc import pid_alive

        pid = int(state["keeper"].split(":")[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):         # a stuck keeper: kill it, gc() below tears its fleet down
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    gc()                           # whatever a dead keeper left
    for path in (state or {}).get("written", []):
        Path(path).unlink(missing_ok=True)
    STATE.unlink(missing_ok=True)
    print("down")
    return 0


def cmd_gc(a) -> int:
    from sandbox.bench import gc

    print(f"cleaned {gc()} fleet(s)")
    return 0


def cmd_ssh(a) -> int:
    state = _read_state()
    if not (_keeper_alive(state) and state.get("ready")):
        print("the sandbox is not up", file=sys.stderr)
        return 1
    hosts = {h["name"]: h for h in state["hosts"]}
    if a.name not in hosts:
        print(f"no host {a.name!r}; hosts: {', '.join(hosts)}", file=sys.stderr)
        return 1
    argv = ["ssh", "-i", state["key"], "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            f"root@{hosts[a.name]['address']}", *a.cmd]
    os.execvp("ssh", argv)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_keeper"]:
        return keeper(int(argv[1]), argv[2], argv[3])
    ap = argparse.ArgumentParser(prog="python3 -m sandbox", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start N hosts")
    up.add_argument("n", type=int)
    up.add_argument("--mode", choices=["netns", "nspawn", "lo"], default="netns")
    up.add_argument("--disk-size", default="1G")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("gc")
    ssh = sub.add_parser("ssh")
    ssh.add_argument("name")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "gc": cmd_gc,
            "ssh": cmd_ssh}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
