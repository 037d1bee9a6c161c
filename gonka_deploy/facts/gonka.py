"""Facts about a host's Gonka stack: the warm key file, HTTP endpoints, the api's ML nodes, the
participant on the seed api."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Runs as `sh -c SCRIPT _ URL`: prints the HTTP status then the body (000 when nothing answers).
HTTP_SCRIPT = r"""
body=$(mktemp)
code=$(curl -s -m 5 -o "$body" -w '%{http_code}' "$1" 2>/dev/null) || code=${code:-000}
echo "$code"
cat "$body"; rm -f "$body"
"""


class HttpGet(FactBase[dict[str, Any]]):
    """
    Returns ``{"status": int, "body": str, "json": object|None}`` of a GET made on the host
    (status 0 when nothing answers). For health checks and the local admin API.
    """

    @override
    def requires_command(self, url: str) -> str:
        return "curl"

    @override
    def command(self, url: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_", QuoteString(url))

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        status = int(output[0]) if output and output[0].isdigit() else 0
        body = "\n".join(output[1:])
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return {"status": status, "body": body, "json": parsed}


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
