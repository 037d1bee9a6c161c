"""Bounded waits on health checks (never a fixed sleep)."""

from __future__ import annotations

import time

from pyinfra import host, logger
from pyinfra.api import QuoteString, StringCommand

from ..facts.compose import ServiceHttp, answer, parse_probe, probe_command
from ..facts.gonka import HTTP_SCRIPT, HttpGet, parse_http
from .util import host_step, need, operation, run_on_host

# The check command itself (not the URL) failing this many times in a row means the host is
# gone (SSH cut, host down): the wait fails now instead of at its timeout.
HOST_GONE_AFTER = 3


def _get(url: str) -> tuple[int, str] | None:
    """(status, body) of a GET on the host; None when the command could not run there."""
    ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                           QuoteString(url)))
    if not ok:
        return None
    found = parse_http(output.stdout_lines)
    return found["status"], found["body"]


PROGRESS_EVERY = 15.0  # seconds between two "still waiting" lines


def _wait(get, url: str, what: str, where: str, timeout: float, interval: float) -> bool:
    """The bounded wait both operations run: ``get()`` is (status, detail) of one check, or
    None when the check command could not run on the host (HOST_GONE_AFTER of those in a row
    end the wait); ``where`` qualifies ``what`` in the messages (" in its container")."""
    started = time.monotonic()
    deadline = started + timeout
    next_note = started + PROGRESS_EVERY
    gone = 0
    while True:
        got = get()
        gone = gone + 1 if got is None else 0
        status, detail = got or (0, "")
        if 200 <= status < 300:
            logger.info(f"{host.print_prefix}{what} answers{where} after "
                        f"{time.monotonic() - started:.1f} s")
            return True
        if gone >= HOST_GONE_AFTER:
            logger.error(f"{host.print_prefix}stopped waiting for {what}: the check could not "
                         f"run on the host {gone} times in a row (connection lost?)")
            return False
        now = time.monotonic()
        if now > deadline:
            logger.error(f"{host.print_prefix}{what} did not answer{where} within "
                         f"{timeout:.0f} s ({url}: status {status or 'none'} "
                         f"{str(detail)[:200]})")
            return False
        if now >= next_note:
            logger.info(f"{host.print_prefix}still waiting for {what}{where} ({url}: status "
                        f"{status or 'none'}), {now - started:.0f} s of {timeout:.0f} s")
            next_note = now + PROGRESS_EVERY
        time.sleep(interval)  # the poll interval of a bounded wait


def _poll(url: str, what: str, timeout: float, interval: float) -> bool:
    return _wait(lambda: _get(url), url, what, "", timeout, interval)


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
    current = need(host.get_fact(HttpGet, url=url), f"{what} ({url})")
    if 200 <= current["status"] < 300:
        host.noop(f"{what} answers")
        return
    yield from host_step(_poll, url, what, timeout, interval, what=f"waiting for {what}")


def _probe(directory: str, files: list[str], service: str, url: str) -> tuple[int, object]:
    ok, output = run_on_host(probe_command(directory, files, service, [url]))
    found = answer(parse_probe(output.stdout_lines if ok else []), url)
    return found["status"], found["json"]


def _poll_service(directory: str, files: list[str], service: str, url: str, what: str,
                  timeout: float, interval: float) -> bool:
    # the in-container probe always runs to an answer (status 0 when it could not): never
    # "gone", as before
    return _wait(lambda: _probe(directory, files, service, url), url, what, " in its container",
                 timeout, interval)


@operation()
def wait_service(directory: str, files: list[str], service: str, url: str, what: str,
                 timeout: float = 300, interval: float = 1.0):
    """
    Wait until ``url`` answers 2xx inside ``service``'s container (``compose exec``, python3),
    before anything routes to it; no change when it already does.

    + directory: the compose project directory
    + files: compose files, in ``-f`` order
    + service: the compose service
    + url: URL as seen inside the container, e.g. ``http://127.0.0.1:8080/health``
    + what: what answers there, for messages
    + timeout: seconds before the host fails
    + interval: seconds between two tries

    **Example:**

    .. code:: python

        health.wait_service(directory=join, files=files, service="mlnode-309",
                            url="http://127.0.0.1:8080/health", what="MLNode v3.0.9")
    """
    found = host.get_fact(ServiceHttp, directory=directory, files=files, service=service,
                          urls=[url])
    if 200 <= answer(found or {}, url)["status"] < 300:
        host.noop(f"{what} answers")
        return
    yield from host_step(_poll_service, directory, files, service, url, what, timeout,
                         interval, what=f"waiting for {what}")
