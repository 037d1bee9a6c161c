"""Facts about a host's Gonka stack: the warm key file, HTTP endpoints, the api's ML nodes, the
participant on the seed api."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import source

# Runs as `sh -c HTTP_SCRIPT _ URL [ATTEMPTS]`: the status (000 when nothing answers), the
# attempts made, then the body.
HTTP_SCRIPT = source("http_get.sh")


def parse_http(output: list[str]) -> dict[str, Any]:
    status = int(output[0]) if output and output[0].isdigit() else 0
    attempts = 1
    rest = output[1:]
    if rest and rest[0].startswith("attempts="):
        attempts = int(rest[0].removeprefix("attempts=") or 1)
        rest = rest[1:]
    body = "\n".join(rest)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return {"status": status, "attempts": attempts, "body": body, "json": parsed}


class HttpGet(FactBase[dict[str, Any]]):
    """
    Returns ``{"status": int, "attempts": int, "body": str, "json": object|None}`` of a GET
    made on the host (status 0 when nothing answers). With ``attempts`` > 1, transient answers
    (nothing, 408, 429, 5xx) are retried on the host with backoff: for the seed api, whose
    answer decides whether a transaction is sent.

    .. code:: python

        {"status": 404, "attempts": 1, "body": "{...}", "json": {"code": 5}}
    """

    # A 5xx whose body holds this text is a definite answer: not retried (see http_get.sh).
    final_text = ""

    @override
    def requires_command(self, url: str, attempts: int = 1) -> str:
        return "curl"

    @override
    def command(self, url: str, attempts: int = 1) -> StringCommand:
        args = [QuoteString(url)] + ([str(int(attempts))] if attempts > 1 else [])
        if attempts > 1 and self.final_text:
            args.append(QuoteString(self.final_text))
        return StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_", *args)

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_http(output)


class WarmKeyExists(FactBase[bool]):
    """
    Returns whether the file keyring under ``home`` holds ``key_name`` (the ``.info`` record:
    readable without the password, unlike the key itself).
    """

    @override
    def command(self, home: str, key_name: str) -> StringCommand:
        return StringCommand("test", "-e", QuoteString(f"{home}/keyring-file/{key_name}.info"),
                             "&&", "echo", "yes", "||", "echo", "no")

    @override
    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "yes"
