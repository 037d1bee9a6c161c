"""An env-gated count of what a run asks of each host, for the bench (``bench/noop.py``).

``GONKA_DEPLOY_COUNT_COMMANDS=<path>`` makes every connection count its remote commands (each
``run_shell_command`` of the connector: facts, operations' commands, the moves of an upload)
and its file transfers; the counts are written to ``<path>`` as JSON when the run exits:
``{"<host>": {"commands": n, "transfers": m, "log": [[seconds, "<command, masked>"]]}}``
(a long command shortened to its first and last 80 characters).
Off by default: nothing is wrapped.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path

from pyinfra.api.state import BaseStateCallback

ENV = "GONKA_DEPLOY_COUNT_COMMANDS"


def _text(command) -> str:
    # The masked form (HiddenValue shown as *MASKED*): the log never holds a secret.
    masked = getattr(command, "get_masked_value", None)
    text = " ".join((masked() if masked else str(command)).split())
    return text if len(text) <= 160 else f"{text[:80]} ... {text[-80:]}"


class CommandCounter(BaseStateCallback):
    """Wraps each host's connector when it connects (the connector's own helpers, e.g. the
    ``mv`` after an upload, call the instance's method: they are counted too)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.counts: dict[str, dict] = {}
        atexit.register(self.write)

    def host_connect(self, state, host):
        connector = host.connector
        if getattr(connector, "_gonka_counted", False):
            return
        counts = self.counts.setdefault(host.name, {"commands": 0, "transfers": 0, "log": []})
        run, put, get = connector.run_shell_command, connector.put_file, connector.get_file

        def run_shell_command(command, *args, **kwargs):
            counts["commands"] += 1
            t0 = time.monotonic()
            try:
                return run(command, *args, **kwargs)
            finally:
                counts["log"].append([round(time.monotonic() - t0, 3), _text(command)])

        def put_file(*args, **kwargs):
            counts["transfers"] += 1
            return put(*args, **kwargs)

        def get_file(*args, **kwargs):
            counts["transfers"] += 1
            return get(*args, **kwargs)

        connector.run_shell_command = run_shell_command
        connector.put_file, connector.get_file = put_file, get_file
        connector._gonka_counted = True

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.counts, indent=1))
        tmp.replace(self.path)


def counter_from_env() -> CommandCounter | None:
    path = os.environ.get(ENV)
    return CommandCounter(path) if path else None
