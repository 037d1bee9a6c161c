"""One apply at a time per host: the run lock (``gonka_deploy/hostside/runlock.py``).

The first operation of every deploy that changes a host takes it; read-only runs (``--dry``,
``deploys/verify.py``, status) never do. The host-side holder keeps the locks for as long as
this run's SSH connection lives, so a run that dies frees them, and a second concurrent apply
fails at once on that host, naming who holds it and since when. Upstream's own
``deploy/join/deployment-lock.sh`` locks are held too once ``deploy/join`` exists, at the paths
it resolves itself (its variables, config.env, the Docker daemon's id and the Compose project:
see the host side), so its scripts and this toolkit exclude each other. When those paths cannot
be resolved (the Docker daemon does not answer, an inspect fails), the run is refused, as
upstream refuses: it never goes on without them.

Taking the lock changes nothing on the host that a later run would see: the operation reports
no change (a converged host's re-run stays at zero changes).
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid

from pyinfra import host, logger, state

from ..facts.runlock import LOCK_DIR, RunLock, parse_json_line, runlock_command
from .util import need, operation, refuse, run_on_host

# One id per controller process, i.e. per pyinfra run: a second call in the same run finds
# its own holder and adds only the locks it does not hold yet.
RUN_ID = uuid.uuid4().hex[:12]
# The holder gives up after this long even if the connection lives on (a bound, not a plan:
# the longest wait of a deploy, for model downloads, is 6 h by default).
MAX_HOLD_S = 3 * 24 * 3600


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def describe_holder(holder: dict) -> str:
    pids = ", ".join(str(h.get("pid")) for h in holder.get("holders", []))
    return (f"{holder.get('who', '?')} ({holder.get('deploy') or 'a deploy'}, run "
            f"{holder.get('run_id', '?')}) since {holder.get('since', '?')}; holder pid "
            f"{pids or '?'}, watching SSH session pid {holder.get('ssh_session_pid', '?')}")


def refusal_message(doc: dict) -> str:
    if doc.get("error"):
        return f"run lock: {doc['error']}"
    path, locker, holder = doc.get("path", "?"), doc.get("locker") or {}, doc.get("holder")
    by = f"pid {locker.get('pid')} ({locker.get('cmd') or '?'})" if locker else "a process"
    if doc.get("kind") == "toolkit":
        if holder:
            pid = (holder.get("holders") or [{}])[0].get("pid", "?")
            return (f"run lock: another run holds this host: {describe_holder(holder)}. "
                    "Re-run when it is done; a run that died frees it when its SSH session "
                    f"ends (if that session is stuck, end it on the host: kill {pid})")
        return f"run lock: {path} is held by {by}; re-run when it is done"
    return (f"run lock: upstream's deployment lock {path} is held by {by}: an upstream deploy "
            "script (deploy/join/deployment-lock.sh) is running on this host; re-run when it "
            "is done")


def acquire_command(deploy: str, join_dir: str | None, lock_dir: str):
    args = ["acquire", "--run-id", RUN_ID, "--who", who(), "--deploy", deploy,
            "--lock-dir", lock_dir, "--max-seconds", str(MAX_HOLD_S)]
    if join_dir:
        args += ["--join", join_dir]
    from pyinfra.api import QuoteString

    return runlock_command(*(QuoteString(a) for a in args))


@operation()
def held(deploy: str, join_dir: str | None = None, lock_dir: str = LOCK_DIR):
    """
    Hold the host's run lock for the rest of this run (taken when the run executes).

    + deploy: what runs (named to whoever is refused)
    + join_dir: deploy/join of the clone: upstream's locks are held too once it exists
    + lock_dir: where the toolkit's lock and its holder file live

    In a preview or ``--dry`` nothing is taken: a lock another run holds is reported as the
    refusal an apply would meet. Calling it again later in the same run adds the locks that
    became available (upstream's, after the clone).

    **Example:**

    .. code:: python

        runlock.held(deploy="deploys/node.py", join_dir="/mnt/ssd/gonka/deploy/join")
    """
    if not state.is_executing:
        found = need(host.get_fact(RunLock, join_dir=join_dir, lock_dir=lock_dir),
                     "the run lock")
        if found.get("error"):
            yield from refuse(f"run lock: {found['error']}")
            return
        holder = found.get("holder")
        if holder and holder.get("run_id") != RUN_ID:
            logger.warning(f"{host.print_prefix}run lock: held by {describe_holder(holder)}: "
                           "an apply now would be refused")
        for lock in found.get("locks", []):
            if lock.get("kind") != "toolkit" and lock.get("holder") and not holder:
                logger.warning(f"{host.print_prefix}run lock: upstream's {lock['path']} is "
                               f"held by pid {lock['holder'].get('pid')}: an apply now would "
                               "be refused")
        host.noop("run lock: taken when the run executes")
        return
    # A command like any other for the fact cache (gonka_deploy/factcache.py): the look-ahead
    # stops before it and reads the host again after it, so no state the run acts on was read
    # before the lock was held (a run that ended in between may have changed it).
    ok, output = run_on_host(acquire_command(deploy, join_dir, lock_dir))
    doc = parse_json_line(output.stdout_lines) or {
        "error": f"the holder did not answer: {(output.stderr or output.stdout)[-300:]}"}
    if not doc.get("ok"):
        yield from refuse(refusal_message(doc))
        return
    paths = doc.get("held", []) + doc.get("already", [])
    logger.debug(f"{host.print_prefix}run lock: run {RUN_ID} holds {', '.join(paths)}")
    for kind, why in sorted(doc.get("skipped", {}).items()):
        logger.debug(f"{host.print_prefix}run lock: {kind} not held yet: {why}")
    host.noop(f"run lock held ({len(paths)} lock(s))")
