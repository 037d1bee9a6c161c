"""Facts for the side-by-side MLNode upgrade: what the api calls now, what the chain plans, and
whether a version's MLNodes answer."""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Runs as `sh -c SCRIPT _ STATUS_URL UPGRADES_URL`: one JSON document per line (or `null`).
UPGRADE_SCRIPT = r"""
curl -s -m 5 "$1" || echo null; echo
curl -s -m 5 "$2" || echo null; echo
"""


class UpgradeState(FactBase[dict[str, Any]]):
    """
    Returns the MLNode version the api calls now (``current``: the chain's ``MLNodeVersion``
    as the api synced it, from its public ``/v1/status``), the chain height, and the pending
    partial upgrades (``pending``: ``[{"height", "node_version"}]``).
    """

    @override
    def command(self, status_url: str, upgrades_url: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(UPGRADE_SCRIPT), "_",
                             QuoteString(status_url), QuoteString(upgrades_url))

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        docs = []
        for line in output:
            try:
                docs.append(json.loads(line) if line.strip() else None)
            except ValueError:
                docs.append(None)
        status = (docs[0] if docs else None) or {}
        upgrades = (docs[1] if len(docs) > 1 else None) or {}
        plans = upgrades.get("partial_upgrade") or []
        return {
            "current": status.get("current_node_version") or None,
            "height": int(status.get("block_height") or status.get("height") or 0),
            "pending": [{"height": int(p.get("height", 0)),
                         "node_version": p.get("nodeVersion") or p.get("node_version")}
                        for p in plans],
        }


class VersionStatus(FactBase[dict[str, Any] | None]):
    """
    Returns the api's view of a version's MLNodes (``POST /admin/v1/nodes/version-status``):
    ``{node_id: {"is_alive": bool, "error": str}}``, or None when the api does not answer.
    The POST only asks: the api calls ``GET <poc url>/<version>/api/v1/state`` on each node.
    """

    @override
    def command(self, admin_url: str, version: str) -> StringCommand:
        return StringCommand("curl", "-s", "-m", "15", "-X", "POST", "-H",
                             QuoteString("Content-Type: application/json"), "--data",
                             QuoteString(json.dumps({"version": version})),
                             QuoteString(f"{admin_url}/nodes/version-status"), "||", "true")

    @override
    def process(self, output: list[str]) -> dict[str, Any] | None:
        try:
            doc = json.loads("\n".join(output)) if output else None
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None
