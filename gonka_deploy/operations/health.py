"""Bounded waits on health checks (never a fixed sleep)."""

from __future__ import annotations

import time

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from ..facts.gonka import HTTP_SCRIPT, HttpGet
from .util import run_on_host


def _get(url: str) -> tuple[int, str]:
    ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                           QuoteString(url)))
    lines = output.stdout_lines if ok else []
    status = int(lines[0]) if lines and lines[0].isdigit() else 0
    return status, "\n".join(lines[1:])


def _poll(url: str, what: str, timeout: float, interval: float) -> bool:
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        status, body = _get(url)
        if 200 <= status < 300:
            logger.info(f"{host.print_prefix}{what} answers after "
                        f"{time.monotonic() - started:.1f} s")
            return True
        if time.monotonic() > deadline:
            logger.error(f"{host.print_prefix}{what} did not answer within {timeout:.0f} s "
                         f"({url}: status {status or 'none'} {body[:200]})")
            return False
        time.sleep(interval)  # the poll interval of a bounded wait


@operation()
def wait_http(url: str, what: str, timeout: float = 300, interval: float = 1.0):
    """
    Wait until ``url`` answers 2xx on the host; no change when it already does.

    + url: URL as seen from the host, e.g. ``http://127.0.0.1:26657/status``
    + what: what answers there, for messages
    + timeout: seconds before the host fails
    + interval: seconds between two tries

    **Example:**

    .. code:: python

        health.wait_http(url="http://127.0.0.1:26657/status", what="chain RPC", timeout=300)
    """
    current = host.get_fact(HttpGet, url=url)
    if 200 <= current["status"] < 300:
        host.noop(f"{what} answers")
        return
    yield FunctionCommand(_poll, (url, what, timeout, interval), {})
