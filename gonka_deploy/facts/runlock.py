"""The run lock of a host, read only (``gonka_deploy/hostside/runlock.py status``): who holds
the toolkit's lock (its holder file), and which process holds each of upstream's
``deployment-lock.sh`` locks (``/proc/locks``). Reading never takes a lock."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import source

LOCK_DIR = "/run/lock"
RUNLOCK_SCRIPT = source("runlock.py")
# Runs as `sh -c PYTHON_SCRIPT _ PROGRAM ARGS…`: the program under python3, or one JSON line
# naming the missing interpreter (every host-side Python program needs it; the preflight of
# phase 1 names it too, but the run lock comes first).
PYTHON_SCRIPT = ('command -v python3 >/dev/null 2>&1 || '
                 '{ echo \'{"error": "python3 is not installed on the host"}\'; exit 0; }; '
                 'program="$1"; shift; exec python3 -c "$program" "$@"')


class RunLockDict(TypedDict, total=False):
    locks: list[dict[str, Any]]   # [{"kind", "path", "holder": {"pid", "cmd"} | None}]
    skipped: dict[str, str]       # upstream locks that cannot be had yet, and why
    holder: dict[str, Any] | None  # the toolkit holder file while its holder lives
    error: str


def runlock_command(*args) -> StringCommand:
    return StringCommand("sh", "-c", QuoteString(PYTHON_SCRIPT), "_",
                         QuoteString(RUNLOCK_SCRIPT), *args)


def parse_json_line(output: list[str]) -> dict[str, Any] | None:
    for line in reversed(output or []):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


class RunLock(FactBase[RunLockDict | None]):
    """
    Returns who holds the host's run lock: the toolkit holder file (``who``, ``since``,
    ``run_id``, ``deploy``, ``holders``) while its holder lives, and each lock with the process
    holding it.

    .. code:: python

        {"holder": {"who": "ana@laptop", "since": "2026-11-30T05:05:05+00:00",
                    "run_id": "1a2b3c4d5e6f", "deploy": "deploys/node.py",
                    "holders": [{"pid": 4242, "locks": ["/run/lock/gonka-deploy.lock"]}],
                    "ssh_session_pid": 4200},
         "locks": [{"kind": "toolkit", "path": "/run/lock/gonka-deploy.lock",
                    "holder": {"pid": 4242, "cmd": "python3 -c <script> acquire …"}}],
         "skipped": {}}
    """

    @override
    def command(self, join_dir: str | None = None, lock_dir: str = LOCK_DIR) -> StringCommand:
        args = ["status", "--lock-dir", QuoteString(lock_dir)]
        if join_dir:
            args += ["--join", QuoteString(join_dir)]
        return runlock_command(*args)

    @override
    def process(self, output: list[str]) -> RunLockDict | None:
        return parse_json_line(output)
