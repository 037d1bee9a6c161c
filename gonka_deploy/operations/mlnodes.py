"""ML nodes known to the api, through its admin API (node-config.json is read on first start only).
"""

from __future__ import annotations

import json
import time

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.gonka import HTTP_SCRIPT, HttpGet, parse_http
from .util import host_step, need, operation, refuse, run_on_host

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
    found = need(host.get_fact(HttpGet, url=f"{admin_url}/nodes"), "the api's ML nodes")
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


def failing(doc, ids: list[str]) -> dict[str, str]:
    """ML node id -> failure reason, for each of ``ids`` the api reports FAILED."""
    out = {}
    for entry in doc if isinstance(doc, list) else []:
        node, st = entry.get("node") or {}, entry.get("state") or {}
        if node.get("id") in ids and st.get("current_status") == "FAILED":
            out[node["id"]] = st.get("failure_reason") or ""
    return out


def _poll_served(url: str, ids: list[str], timeout: float, interval: float) -> bool:
    started = time.monotonic()
    last = None
    while True:
        ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                               QuoteString(url)))
        got = parse_http(output.stdout_lines if ok else [])
        doc = got["json"] if got["status"] == 200 else None
        failed = failing(doc, ids) if doc is not None else {i: "admin API silent" for i in ids}
        waited = time.monotonic() - started
        if not failed:
            logger.info(f"{host.print_prefix}the api serves ML node(s) {', '.join(ids)} after "
                        f"{waited:.1f} s")
            return True
        if failed != last:  # progress: say what is still failing when it changes
            logger.info(f"{host.print_prefix}waiting for the api to serve "
                        + ", ".join(f"{i} ({r})" for i, r in sorted(failed.items()))
                        + f" ({waited:.0f} s of {timeout:.0f})")
            last = failed
        if waited > timeout:
            logger.error(f"{host.print_prefix}the api still reports FAILED after {timeout:.0f} "
                         "s: " + ", ".join(f"{i} ({r})" for i, r in sorted(failed.items())))
            return False
        time.sleep(interval)  # the poll interval of a bounded wait


@operation()
def served(admin_url: str, ids: list[str], timeout: float = 600, interval: float = 2.0):
    """
    Wait until the api no longer reports any of ``ids`` FAILED: after an MLNode container is
    recreated (a new image), the api marks it failed until it answers again and the model is
    loaded. No change when none is failed.

    + admin_url: the admin API base on the host, e.g. ``http://127.0.0.1:9200/admin/v1``
    + ids: the ML node ids
    + timeout: seconds before the host fails, naming each node and its failure reason
    + interval: seconds between two polls

    **Example:**

    .. code:: python

        mlnodes.served(admin_url="http://127.0.0.1:9200/admin/v1", ids=["node1"], timeout=600)
    """
    found = need(host.get_fact(HttpGet, url=f"{admin_url}/nodes"), "the api's ML nodes")
    if found["status"] == 200 and not failing(found["json"], ids):
        host.noop(f"the api serves ML node(s) {', '.join(ids)}")
        return
    if not state.is_executing and found["status"] != 200:
        logger.info(f"{host.print_prefix}will wait for the api to serve ML node(s) "
                    f"{', '.join(ids)}")
    yield from host_step(_poll_served, f"{admin_url}/nodes", ids, timeout, interval,
                         what="waiting for the api to serve the ML nodes")
