"""The model wait prints percent and rate, fails the host on a stopped download, and bounds
itself with a timeout."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from unittest.mock import MagicMock

from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.operations import hf

MIB = 1024 * 1024


def fake_host(statuses: list[dict]):
    outputs = iter(statuses)
    host = MagicMock(print_prefix="[h] ", data={})

    def run(command, **kwargs):
        return True, SimpleNamespace(stdout_lines=[json.dumps(next(outputs))], stderr="")

    host.run_shell_command.side_effect = run
    return host


def status(have, running=4242, complete=False):
    return {"total": 8 * MIB, "have": have, "files": 4, "missing_count": 0 if complete else 2,
            "running": running, "complete": complete}


def wait(statuses, caplog, timeout=30.0):
    caplog.set_level(logging.INFO)
    with ctx_state.use(MagicMock(config=MagicMock(SUDO=False))), \
            ctx_host.use(fake_host(statuses)):
        ok = hf._wait([("org/m", "a" * 40)], {"HF_HOME": "/hf"}, timeout, 0.0)
    return ok, [r.getMessage() for r in caplog.records]


def test_progress_lines_carry_percent_and_rate(caplog):
    ok, logs = wait([status(0), status(4 * MIB), status(8 * MIB, None, True)], caplog)
    assert ok
    assert any("4.0 MiB of 8.0 MiB (50.0%), 2 of 4 files to go" in line and "/s" in line
               for line in logs), logs
    assert "[h] org/m@aaaaaaaaaaaa complete (8.0 MiB)" in logs


def test_a_stopped_download_fails_the_host_with_the_reason(caplog):
    ok, logs = wait([status(2 * MIB, running=None)], caplog)
    assert ok is False
    assert any("stopped before it finished" in line for line in logs), logs


def test_the_wait_is_bounded(caplog):
    ok, logs = wait([status(MIB)] * 1000, caplog, timeout=0.0)
    assert ok is False
    assert any("models not complete after 0 s: org/m" in line for line in logs), logs
