"""The phase 7 checks of a host, read in one SSH round trip (see ``gonka_deploy.verifyscript``)."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..verifyscript import SCRIPT


class Verification(FactBase[dict[str, Any] | None]):
    """
    Returns every check of a running host: chain sync, participant on the seed api, proxy
    health and dashboard, admin api nodes, MLNode state, GPUs in the MLNode container, torch
    CUDA, recent container logs. ``args`` is the JSON argument of the script.

    .. code:: python

        {"checks": [{"name": "chain_sync", "ok": True, "detail": "height 1234, ..."},
                    {"name": "gpu", "ok": False, "detail": "1 GPU(s), want 8"}, ...]}
    """

    @override
    def requires_command(self, args: str) -> str:
        return "python3"

    @override
    def command(self, args: str) -> StringCommand:
        return StringCommand("python3", "-c", QuoteString(SCRIPT), QuoteString(args))

    @override
    def process(self, output: list[str]) -> dict[str, Any] | None:
        for line in reversed(output):
            if line.strip().startswith("{"):
                return json.loads(line)
        return None
