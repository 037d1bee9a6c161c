"""ML nodes known to the api, through its admin API (node-config.json is read on first start only).
"""

from __future__ import annotations

import json

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.gonka import HttpGet
from .util import operation, refuse

FIELDS = ("id", "host", "inference_port", "poc_port", "max_concurrent", "models")


def differs(current: dict, wanted: dict) -> list[str]:
    return [f for f in FIELDS if current.get(f) != wanted.get(f)]


def _send(method: str, url: str, body: dict) -> StringCommand:
    # The body goes on stdin: no JSON quoting in argv, and no length limit.
    return StringCommand("curl", "-sS", "--fail-with-body", "-m", "30", "-X", method, "-H",
                         QuoteString("Content-Type: application/json"), "--data-binary", "@-",
                         QuoteString(url), _stdin=json.dumps(body))


@operation()
def registered(admin_url: str, nodes: list[dict]):
    """
    Make the api know each ML node as rendered: POST a missing one, PUT a different one.
    Nodes the api knows that are not in ``nodes`` are left alone (never deleted).

    + admin_url: the admin API base on the host, e.g. ``http://127.0.0.1:9200/admin/v1``
    + nodes: the node-config.json entries

    **Example:**

    .. code:: python

        mlnodes.registered(admin_url="http://127.0.0.1:9200/admin/v1", nodes=node_config(c))
    """
    found = host.get_fact(HttpGet, url=f"{admin_url}/nodes")
    if found["status"] != 200:
        if state.is_executing:
            yield from refuse(f"admin API {admin_url} answered {found['status'] or 'nothing'}")
            return
        known = {}
        logger.info(f"{host.print_prefix}will register {len(nodes)} ML node(s) with the api "
                    "once it runs")
    else:
        known = {entry["node"]["id"]: entry["node"] for entry in found["json"] or []}
    changes = []
    for node in nodes:
        if node["id"] not in known:
            changes.append(("POST", f"{admin_url}/nodes", node, "add"))
        elif fields := differs(known[node["id"]], node):
            changes.append(("PUT", f"{admin_url}/nodes/{node['id']}", node,
                            f"update {', '.join(fields)}"))
    if not changes:
        host.noop(f"the api knows ML node(s) {', '.join(n['id'] for n in nodes)}")
        return
    verb = "" if state.is_executing else "would "
    for method, url, node, what in changes:
        logger.info(f"{host.print_prefix}{verb}{what} ML node {node['id']} ({method} {url})")
        yield _send(method, url, node)
