"""The run lock of a host: one apply at a time (``python3 -c SCRIPT ...``).

    runlock.py acquire --run-id ID --who USER@MACHINE --deploy NAME [--join DIR]
                       [--project NAME] [--watch PID] [--max-seconds N] [--lock-dir DIR]
    runlock.py status [--join DIR] [--project NAME] [--lock-dir DIR]

Both print one JSON line.

``acquire`` takes exclusive, non-blocking ``flock``s and holds them in a detached holder process
for as long as the SSH connection of the run that asked lives: the holder watches that
connection's sshd session process (the nearest ``sshd``/``sshd-session`` ancestor, or
``--watch PID``) and exits when it does, so the kernel frees the locks of a run whose controller
died or whose connection dropped. The locks, in order:

- the toolkit's own, ``<lock-dir>/gonka-deploy.lock`` (always), with the holder's description in
  a separate file beside it, ``gonka-deploy.holder.json`` (nothing is written into a lock file);
- once ``--join`` exists, upstream's ``deploy/join/deployment-lock.sh`` locks at the paths it
  resolves itself (see "upstream's lock paths" below: ``GONKA_DEPLOYMENT_LOCK``, the project from
  ``--project`` (its ``$2``), ``GONKA_DEPLOYMENT_PROJECT``, ``COMPOSE_PROJECT_NAME``, the
  ``PROXY_ROUTER_CONTAINER``'s label, ``DOCKER_BIN``): lock-a, ``<join>/.gonka-deployment.lock``
  (created 0600 when missing, as upstream's ``umask 077; : >`` does), and lock-b,
  ``/tmp/gonka-deployment-<KEY>.lock``, KEY the hex sha256 of
  ``"<docker daemon id>\\n<compose project>\\n"`` (created 0644, as its ``umask 022`` does).
  When they cannot be resolved (the Docker daemon does not answer, say), nothing is taken and
  the answer is a refusal: upstream refuses then too.

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
import functools
import hashlib
import json
import os
import re
import select
import shlex
import subprocess
import sys
import time

TOOLKIT_LOCK = "gonka-deploy.lock"
HOLDER_FILE = "gonka-deploy.holder.json"
UPSTREAM_A = ".gonka-deployment.lock"
SSHD_NAMES = ("sshd", "sshd-session")
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


# --- upstream's lock paths ---------------------------------------------------------------
#
# Resolved exactly as upstream's deploy/join/deployment-lock.sh resolves them
# (gonka_acquire_deployment_lock CONFIG_DIR [PROJECT]):
#
# - lock-a (gonka-ai/gonka@1fce1a8f0133edf4ebbed4c47cb5649f751592a3):
#   ${GONKA_DEPLOYMENT_LOCK:-$config_dir/.gonka-deployment.lock}
# - lock-b (zpoken/gonka@86cff5030abb6bbf8b10a4fb81f040c178c6e13b): $GONKA_DEPLOYMENT_LOCK when
#   set; else /tmp/gonka-deployment-<sha256 of "<daemon id>\n<project>\n">.lock, the daemon id
#   from `${DOCKER_BIN:-docker} info --format {{.ID}}` (a failure or an empty id refuses), the
#   project ${2:-${GONKA_DEPLOYMENT_PROJECT:-${COMPOSE_PROJECT_NAME:-}}}, else the
#   com.docker.compose.project label of ${PROXY_ROUTER_CONTAINER:-proxy} then versiond (only
#   "no such object"/"no such container" may be passed over; any other inspect failure
#   refuses), else the basename of the script's directory (deploy/join, `pwd -P`).
#
# The variables come from the environment, and from config.env: upstream's updaters source it
# (`set -a; source "$config_env"`, config_env ${GONKA_CONFIG_ENV:-$script_dir/config.env};
# e.g. update-devshard.sh) before they take the lock, and a script that does not source it sees
# the environment alone. Both readings are held when they differ: an extra lock only excludes
# more. Where the lock cannot be resolved (no daemon, an inspect failure, a config.env value
# only a shell could evaluate) nothing is taken: the run is refused, as upstream refuses.
LOCK_VARS = ("GONKA_DEPLOYMENT_LOCK", "GONKA_DEPLOYMENT_PROJECT", "COMPOSE_PROJECT_NAME",
             "PROXY_ROUTER_CONTAINER", "DOCKER_BIN")
ABSENT = ("no such object", "no such container")
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class Unresolved(Exception):
    """Upstream's lock path cannot be known now: upstream would refuse, so does the run."""


def docker_out(docker: str, *args: str) -> tuple[int, str]:
    """rc and output of a docker command: stdout on success, stderr and stdout on failure
    (upstream reads inspect's answer with 2>&1)."""
    try:
        p = subprocess.run([docker, *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return p.returncode, p.stdout if p.returncode == 0 else (p.stderr + p.stdout).strip()


@functools.cache
def daemon_id(docker: str) -> tuple[int, str]:
    """`docker info --format {{.ID}}`, asked once per program run (each reading needs it)."""
    return docker_out(docker, "info", "--format", "{{.ID}}")


def config_env_path(join: str) -> str:
    return os.environ.get("GONKA_CONFIG_ENV") or os.path.join(join, "config.env")


def sourced_vars(path: str) -> dict[str, str]:
    """What sourcing ``path`` sets of LOCK_VARS. Only plain assignments are read (one word, no
    expansion); any other mention of one of them is refused (only a shell could evaluate it).
    Nothing else of the file (it holds the keyring password) is read into the answer."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise Unresolved(f"cannot read {path}: {exc.strerror}") from None
    found = {}
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("#") or not any(name in line for name in LOCK_VARS):
            continue
        match = ASSIGNMENT.match(line)
        if match is None:  # `: ${NAME:=x}`, `read NAME`, `eval …`: only a shell can tell
            mentioned = [n for n in LOCK_VARS if re.search(rf"\b{n}\b", line)]
            if mentioned:
                raise Unresolved(f"{path} line {number} may set {mentioned[0]} in a way only a "
                                 "shell can evaluate; make it a plain assignment")
            continue
        name = match.group(1)
        if name not in LOCK_VARS:  # another variable: reading one of ours changes nothing,
            setting = [n for n in LOCK_VARS if re.search(rf"\b{n}\s*=", match.group(2))]
            if setting:  # but `A=1; NAME=x` on one line would set it
                raise Unresolved(f"{path} line {number} may set {setting[0]} in a way only a "
                                 "shell can evaluate; make it a plain assignment of its own")
            continue
        raw = match.group(2)
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:
            words = None
        if words is None or len(words) > 1 or any(c in raw for c in "$`\\"):
            raise Unresolved(f"{path} line {number}: {name} is not a plain value; make it one "
                             "(NAME=value or NAME='value')")
        found[name] = words[0] if words else ""
    return found


def lock_b_path(join: str, env: dict[str, str], project: str | None) -> str:
    """deployment-lock.sh's GONKA_DEPLOYMENT_LOCK for these variables (see above)."""
    if env.get("GONKA_DEPLOYMENT_LOCK"):
        return env["GONKA_DEPLOYMENT_LOCK"]
    docker = env.get("DOCKER_BIN") or "docker"
    rc, daemon = daemon_id(docker)
    if rc != 0:
        raise Unresolved("cannot identify the Docker daemon (`docker info` failed"
                         + (f": {daemon[-160:]}" if daemon else "") + "); start Docker and "
                         "re-run")
    daemon = daemon.rstrip("\n")  # as $(...) strips it
    if not daemon:
        raise Unresolved("empty Docker daemon identity (`docker info --format {{.ID}}`)")
    project = project or env.get("GONKA_DEPLOYMENT_PROJECT") or env.get("COMPOSE_PROJECT_NAME")
    if not project:
        for owner in (env.get("PROXY_ROUTER_CONTAINER") or "proxy", "versiond"):
            rc, out = docker_out(docker, "inspect", "--format",
                                 '{{index .Config.Labels "com.docker.compose.project"}}', owner)
            out = out.rstrip("\n")
            if rc == 0:
                if out and out != "<no value>":
                    project = out
                    break
            elif not any(text in out.lower() for text in ABSENT):
                raise Unresolved(f"cannot inspect {owner}: {out[-160:]}")
    project = project or os.path.basename(os.path.realpath(join))
    key = hashlib.sha256(f"{daemon}\n{project}\n".encode()).hexdigest()
    return f"/tmp/gonka-deployment-{key}.lock"


def upstream_locks(join: str, project: str | None) -> list[dict]:
    """Upstream's locks for this deployment, under each reading of its variables (the
    environment alone; the environment with config.env sourced over it), without repeats."""
    environment = {name: os.environ[name] for name in LOCK_VARS if name in os.environ}
    sourced = {**environment, **sourced_vars(config_env_path(join))}
    readings = [environment] if sourced == environment else [environment, sourced]
    config_dir = os.path.dirname(config_env_path(join))
    locks: list[dict] = []
    for env in readings:
        path_a = env.get("GONKA_DEPLOYMENT_LOCK") or os.path.join(config_dir, UPSTREAM_A)
        locks.append({"kind": "upstream-a", "path": path_a, "mode": 0o600})
    for env in readings:
        locks.append({"kind": "upstream-b", "path": lock_b_path(join, env, project),
                      "mode": 0o644})
    seen, unique = set(), []
    for lock in locks:  # one open file per lock file: a second flock of ours would conflict
        real = os.path.realpath(lock["path"])
        if real not in seen:
            seen.add(real)
            unique.append(lock)
    return unique


def wanted_locks(lock_dir: str, join: str | None,
                 project: str | None = None) -> tuple[list[dict], dict]:
    """The locks to hold now: [{"kind", "path", "mode"}], and why upstream's are left out
    (only while deploy/join does not exist: no upstream script can run then). Raises
    Unresolved when upstream's cannot be resolved."""
    locks = [{"kind": "toolkit", "path": os.path.join(lock_dir, TOOLKIT_LOCK), "mode": 0o644}]
    skipped = {}
    if join and os.path.isdir(join):
        locks += upstream_locks(join, project)
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
    try:
        locks, skipped = wanted_locks(args.lock_dir, args.join, args.project)
    except Unresolved as exc:
        say({"error": f"upstream's deployment lock: {exc}"})
        return 0
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
    try:
        locks, skipped = wanted_locks(args.lock_dir, args.join, args.project)
    except Unresolved as exc:  # before anything is taken or created
        say({"ok": False, "error": f"upstream's deployment lock: {exc}"})
        return 1
    os.makedirs(args.lock_dir, exist_ok=True)
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
        # upstream's $2: the Compose project a caller names (lock-b's project, first choice)
        p.add_argument("--project", default=None)
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
