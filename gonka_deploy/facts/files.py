"""Facts about files the toolkit manages: content, mode and owner in one read."""

from __future__ import annotations

import base64
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Runs as `sh -c SCRIPT _ PATH`: prints `mode owner` then the content, base64 so that any byte
# survives the trip.
STAT_SCRIPT = r"""
[ -f "$1" ] || { echo absent; exit 0; }
stat -c '%a %U:%G' "$1"
base64 -w0 "$1"; echo
"""


class ManagedFileDict(TypedDict):
    mode: int
    owner: str
    content: str


class ManagedFile(FactBase[ManagedFileDict | None]):
    """
    Returns a file's mode, owner and text content, or None when it does not exist.

    .. code:: python

        {"mode": 0o600, "owner": "root:root", "content": "export KEY_NAME=fra-01\\n"}
    """

    @override
    def command(self, path: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(STAT_SCRIPT), "_", QuoteString(path))

    @override
    def process(self, output: list[str]) -> ManagedFileDict | None:
        if not output or output[0] == "absent":
            return None
        mode, owner = output[0].split(" ", 1)
        raw = base64.b64decode(output[1]) if len(output) > 1 else b""
        return ManagedFileDict(mode=int(mode, 8), owner=owner,
                               content=raw.decode("utf-8", errors="replace"))
