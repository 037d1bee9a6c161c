"""The run lock of a host: one apply at a time (``python3 -c SCRIPT ...``).

    runlock.py acquire --run-id ID --who USER@MACHINE --deploy NAME [--join DIR]
                       [--watch PID] [--max-seconds N] [--lock-dir DIR]
    runlock.py status [--join DIR] [--lock-dir DIR]

Both print one JSON line.

``acquire`` takes exclusive, non-blocking ``flock``s and holds them in a detached holder process
for as long as the SSH connection of the run that asked lives: the holder watches that
connection's sshd session process (the nearest ``sshd``/``sshd-session`` ancestor, or
``--watch PID``) and exits when it does, so the kernel frees the locks of a run whose controller
died or whose connection dropped. The locks, in order:

- the toolkit's own, ``<lock-dir>/gonka-deploy.lock`` (always), with the holder's description in
  a separate file beside it, ``gonka-deploy.holder.json`` (nothing is written into a lock file);
- upstream's ``deploy/join/deployment-lock.sh`` lock-a, ``<join>/.gonka-deployment.lock``, once
  ``--join`` exists (created 0600 when missing, as upstream's ``umask 077; : >`` does);
- its lock-b variant, ``/tmp/gonka-deployment-<KEY>.lock``, KEY the hex sha256 of
  ``"<docker daemon id>\\n<compose project>\\n"``, once the Docker daemon
  answers (created 0644, as upstream's ``umask 022`` does).

Upstream opens the lock read-only and runs ``flock -n 9`` (gonka-ai/gonka@1fce1a8f and
zpoken/gonka@86cff503: deploy/join/deployment-lock.sh); an exclusive flock on the same inode
excludes it both ways. A second ``acquire`` of the same run (same run id, holder alive) adds only
the locks it does not hold yet. A refusal names who holds the lock (our holder file) or, for a
lock someone else took, the process ``/proc/locks`` names.

``status`` only reads: the holder file and ``/proc/locks`` (it never takes a lock, so it cannot
make a concurrent ``flock -n`` fail).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import select
import subprocess
import sys
import time

TOOLKIT_LOCK = "gonka-deploy.lock"
HOLDER_FILE = "gonka-deploy.holder.json"
UPSTREAM_A = ".gonka-deployment.lock"
SSHD_NAMES = ("sshd", "sshd-session")
# Upstream's lock-b resolves the Compose project from these containers' label, then falls back
# to the basename of deploy/join (zpoken/gonka@86cff503:deploy/join/deployment-lock.sh).
PROJECT_OWNERS = ("proxy", "versiond")
REPORT_TIMEOUT = 60.0


def say(doc: dict) -> None:
    print(json.dumps(doc, sort_keys=True), flush=True)


# --- processes ---------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[19])


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return ""
    # a program passed inline (python3 -c SCRIPT) shows as <script>
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    text = " ".join("<script>" if "\n" in a else a for a in args)
    return text if len(text) <= 160 else text[:157] + "..."


def alive(pid: int, start: int | None = None) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z" and (start is None or stat[2] == start)


def ssh_session(pid: int) -> int | None:
    """The nearest sshd session process above ``pid`` (the one that serves this connection)."""
    for _ in range(64):  # a process tree is never this deep; the bound keeps the walk finite
        stat = proc_stat(pid)
        if stat is None or pid <= 1:
            return None
        if comm(pid) in SSHD_NAMES:
            return pid
        pid = stat[1]
    return None


def wait_for_exit(pid: int, start: int, max_seconds: float) -> None:
    """Return when ``pid`` (started at ``start``) has exited, or after ``max_seconds``."""
    deadline = time.monotonic() + max_seconds
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            if alive(pid, start):  # the pid was not reused between the lookup and the open
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll(int(max_seconds * 1000))
            return
        finally:
            os.close(fd)
    while alive(pid, start) and time.monotonic() < deadline:  # kernels without pidfd_open
        time.sleep(1.0)


# --- locks -------------------------------------------------------------------------------

def locker(path: str) -> dict | None:
    """Who holds a flock on ``path``, from /proc/locks: {"pid", "cmd"}; None when nobody."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want:
            pid = int(parts[4]) if parts[4].lstrip("-").isdigit() else -1
            return {"pid": pid, "cmd": cmdline(pid) if pid > 0 else ""}
    return None


def open_lock(path: str, mode: int) -> int:
    """Open the lock file read-only as upstream does, creating it (``mode``) only when missing:
    an existing file is never opened with O_CREAT (protected_regular in /tmp refuses that for a
    file another user created)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        pass
    try:
        old = os.umask(0o777 & ~mode)
        try:
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        finally:
            os.umask(old)
    except FileExistsError:  # created meanwhile by someone else: use theirs
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def docker_out(*args: str) -> tuple[int, str]:
    try:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return p.returncode, (p.stdout if p.returncode == 0 else p.stderr or p.stdout).strip()


def upstream_b(join: str) -> tuple[str | None, str]:
    """lock-b's path for this deployment, or None and why it cannot be known now."""
    rc, daemon = docker_out("info", "--format", "{{.ID}}")
    if rc != 0 or not daemon:
        return None, "the Docker daemon does not answer" + (f" ({daemon[-120:]})" if daemon
                                                            else "")
    project = ""
    for owner in PROJECT_OWNERS:
        rc, out = docker_out("inspect", "--format",
                             '{{index .Config.Labels "com.docker.compose.project"}}', owner)
        if rc == 0 and out and out != "<no value>":
            project = out
            break
        if rc != 0 and "no such" not in out.lower():
            return None, f"cannot inspect {owner}: {out[-120:]}"
    project = project or os.path.basename(join.rstrip("/"))
    key = hashlib.sha256(f"{daemon}\n{project}\n".encode()).hexdigest()
    return f"/tmp/gonka-deployment-{key}.lock", f"project {project}"


def wanted_locks(lock_dir: str, join: str | None) -> tuple[list[dict], dict]:
    """The locks to hold now: [{"kind", "path", "mode"}], and why any upstream one is left out."""
    locks = [{"kind": "toolkit", "path": os.path.join(lock_dir, TOOLKIT_LOCK), "mode": 0o644}]
    skipped = {}
    if join and os.path.isdir(join):
        locks.append({"kind": "upstream-a", "path": os.path.join(join, UPSTREAM_A),
                      "mode": 0o600})
        path, why = upstream_b(join)
        if path:
            locks.append({"kind": "upstream-b", "path": path, "mode": 0o644})
        else:
            skipped["upstream-b"] = why
    elif join:
        skipped["upstream-a"] = skipped["upstream-b"] = f"{join} does not exist yet"
    return locks, skipped


# --- holder file ---------------------------------------------------------------------------

def read_holder(lock_dir: str) -> dict | None:
    try:
        with open(os.path.join(lock_dir, HOLDER_FILE)) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_holder(lock_dir: str, doc: dict) -> None:
    path = os.path.join(lock_dir, HOLDER_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def live_holder(lock_dir: str) -> dict | None:
    """The holder file when its description is current: some process it names still holds the
    toolkit lock (a dead holder's file is stale and ignored)."""
    doc = read_holder(lock_dir)
    held = locker(os.path.join(lock_dir, TOOLKIT_LOCK))
    if doc is None or held is None:
        return None
    pids = {h.get("pid") for h in doc.get("holders", [])}
    return doc if held["pid"] in pids or held["pid"] == -1 else None


# --- commands ------------------------------------------------------------------------------

def status(args) -> int:
    locks, skipped = wanted_locks(args.lock_dir, args.join)
    out = []
    for lock in locks:
        out.append({"kind": lock["kind"], "path": lock["path"],
                    "holder": locker(lock["path"]) if os.path.exists(lock["path"]) else None})
    say({"locks": out, "skipped": skipped, "holder": live_holder(args.lock_dir)})
    return 0


def refusal(lock: dict, lock_dir: str) -> dict:
    doc = {"ok": False, "kind": lock["kind"], "path": lock["path"],
           "locker": locker(lock["path"])}
    if lock["kind"] == "toolkit":
        doc["holder"] = read_holder(lock_dir)
    return doc


def hold(args, locks: list[dict], session: int, start: int, report_fd: int) -> None:
    """The detached holder: take ``locks``, report on ``report_fd``, hold until the session
    ends. Never returns."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the SSH channel must not wait for this process's output
        os.dup2(null, fd)
    fds = []
    report = os.fdopen(report_fd, "w")
    try:
        for lock in locks:
            fd = open_lock(lock["path"], lock["mode"])
            fds.append(fd)
            if not try_lock(fd):
                report.write(json.dumps(refusal(lock, args.lock_dir)))
                report.close()
                os._exit(1)
        previous = live_holder(args.lock_dir) if locks[0]["kind"] != "toolkit" else None
        mine = {"pid": os.getpid(), "locks": [lock["path"] for lock in locks]}
        doc = previous if previous and previous.get("run_id") == args.run_id else {
            "run_id": args.run_id, "who": args.who, "deploy": args.deploy, "holders": [],
            # hosts may run Python 3.10 (Ubuntu 22.04): no datetime.UTC there
            "since": dt.datetime.now(dt.timezone.utc).isoformat(  # noqa: UP017
                timespec="seconds"),
            "ssh_session_pid": session}
        doc["holders"] = doc.get("holders", []) + [mine]
        write_holder(args.lock_dir, doc)
        report.write(json.dumps({"ok": True, "holder_pid": os.getpid(), "held":
                                 [lock["path"] for lock in locks]}))
        report.close()
    except Exception as exc:  # noqa: BLE001 - reported to the waiting parent, then exit
        try:
            report.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
            report.close()
        finally:
            os._exit(1)
    wait_for_exit(session, start, args.max_seconds)
    doc = read_holder(args.lock_dir)
    if doc and doc.get("run_id") == args.run_id and locks[0]["kind"] == "toolkit":
        try:
            os.unlink(os.path.join(args.lock_dir, HOLDER_FILE))
        except OSError:
            pass
    os._exit(0)


def acquire(args) -> int:
    session = args.watch or ssh_session(os.getppid())
    stat = proc_stat(session) if session else None
    if stat is None:
        say({"ok": False, "error": "not started over SSH (no sshd session process above this "
             "one) and no --watch PID given: nothing would end the hold"})
        return 1
    os.makedirs(args.lock_dir, exist_ok=True)
    locks, skipped = wanted_locks(args.lock_dir, args.join)
    current = live_holder(args.lock_dir)
    already = []
    if current and current.get("run_id") == args.run_id:
        for held in current.get("holders", []):
            if alive(held.get("pid", 0)):
                already += held.get("locks", [])
        locks = [lock for lock in locks if lock["path"] not in already]
    if not locks:
        say({"ok": True, "held": [], "already": already, "skipped": skipped})
        return 0
    if locks[0]["kind"] == "toolkit" and current and current.get("run_id") != args.run_id:
        say({**refusal(locks[0], args.lock_dir), "skipped": skipped})
        return 1
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        hold(args, locks, session, stat[2], write_fd)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + REPORT_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    try:
        doc = json.loads(b"".join(chunks) or b"null")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {"ok": False, "error": "the holder process did not report"}
    say({**doc, "already": already, "skipped": skipped})
    return 0 if doc.get("ok") else 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="runlock")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("acquire", "status"):
        p = sub.add_parser(name)
        p.add_argument("--join", default=None)
        p.add_argument("--lock-dir", default="/run/lock")
    acq = sub.choices["acquire"]
    acq.add_argument("--run-id", required=True)
    acq.add_argument("--who", required=True)
    acq.add_argument("--deploy", default="")
    acq.add_argument("--watch", type=int, default=None)
    acq.add_argument("--max-seconds", type=float, default=3 * 24 * 3600.0)
    args = ap.parse_args(argv)
    return acquire(args) if args.command == "acquire" else status(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
