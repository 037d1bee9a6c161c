"""Guarded MLNode image swap: how every MLNode move of 2026 was made (3.0.13 -> 3.0.14-post2 ->
3.0.16 -> 3.1.0 each swapped the image of the current ``mlnode-308`` in place).

The procedure follows gonka-nop (``inc4/gonka-nop@03f9a72c:internal/cmd/update.go``
``safeMLNodeUpdate``: disable, pull, ``compose up mlnode-308``, wait for the model, enable) and
upstream's guidance (``gonka-ai/gonka-docs@570482bc:docs/network-updates.md``: "make sure that
neither CPoC nor PoC is currently running"; the testnet 2.16 join guide: swap "during Inference
phase", "blocks_to_poc comfortably > 100"):

1. the epoch phase from the api (``GET /v1/epochs/latest``): refused during PoC, during a
   confirmation PoC, or too close to the next PoC, with when to retry;
2. the new image is pulled first, by the role (``compose.pulled``): the node leaves the api only
   for the recreate, and a failed pull changes nothing;
3. each ML node of the service that is enabled is disabled (``POST /admin/v1/nodes/<id>/disable``);
4. only that service is recreated (``compose up -d --no-deps``), and the ML proxy reloaded so an
   nginx that resolves upstreams at load time finds the new container;
5. a bounded wait, with progress: the MLNode's ``/health`` inside its container, its model loaded
   (``/api/v1/state``: INFERENCE, ``inference_healthy``), the api reporting each node INFERENCE;
6. the nodes are enabled again (``POST .../enable``).

On a failure after the disable (the recreate fails, the health never comes) the service is
recreated with the previous image through a one-off compose layer on stdin (the host's files
still name the new image, so the next run tries again, guarded), waited for, the nodes enabled,
and the host fails naming what failed. If the previous image does not come back either, the
nodes stay disabled: nothing is routed to a silent MLNode.

Each step is kept in the node's local state (``NodeState.swaps()``) before it is taken: a cut run
resumes there, and the previous image is never forgotten.

What "disabled" means upstream: ``ShouldBeOperational`` (decentralized-api ``broker.go``) keeps a
node that was disabled in the current epoch operational until that epoch ends ("It will remain
active until the end of the epoch", ``docs/host/mlnode-management.md``); the disable keeps it out
of the next PoC. So on mainnet the api may still route requests to the node while its container
is recreated, and those can fail; the sandbox's api routes nothing to a disabled node.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.compose import ComposeState, answer, parse_probe, probe_command
from ..facts.gonka import HTTP_SCRIPT, HttpGet, parse_http
from ..facts.swap import EpochPhase, describe, swap_refusal
from ..state import ImageSwap, NodeState, now
from .compose import compose_command
from .health import PROGRESS_EVERY
from .util import host_step, need, operation, refuse, run_on_host

OPEN_STEPS = ("started", "disabled", "recreated")
# The MLNode's management API inside its container (``uvicorn api.app:app --port=8080`` in
# gonka-ai/gonka@ee730031:deploy/join/docker-compose.mlnode.yml); routes from
# mlnode/packages/api/src/api/routes.py and health.py (see research FACTS-chain §6).
MLNODE_HEALTH = "http://127.0.0.1:8080/health"
MLNODE_STATE = "http://127.0.0.1:8080/api/v1/state"
POST_ATTEMPTS = 3


@dataclass(frozen=True)
class Swap:
    key_name: str
    directory: str
    files: tuple[str, ...]
    service: str
    previous: str
    target: str
    nodes: tuple[str, ...]       # the ML nodes to disable and enable again
    admin_url: str
    proxy_service: str
    timeout: float
    interval: float
    resume: bool                 # the container already runs the target: wait, then enable


# --- host calls (inside the FunctionCommand, at execute time) ---

def _say(line: str) -> None:
    logger.info(f"{host.print_prefix}{line}")


def _api_nodes(admin_url: str) -> dict[str, dict] | None:
    """node id -> the api's ``state`` of it; None when the admin API does not answer."""
    ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                           QuoteString(f"{admin_url}/nodes"), "3"))
    got = parse_http(output.stdout_lines if ok else [])
    if got["status"] != 200 or not isinstance(got["json"], list):
        return None
    return {(e.get("node") or {}).get("id"): e.get("state") or {} for e in got["json"]}


def _post(url: str) -> tuple[int, str]:
    """POST with no body (as gonka-nop posts enable/disable); a transient fault (nothing
    answered, 5xx) is tried again, at most POST_ATTEMPTS times, 1 then 2 s apart."""
    command = StringCommand("curl", "-s", "-m", "30", "-X", "POST", "-H",
                            QuoteString("Content-Type: application/json"), "-w",
                            QuoteString("\\n%{http_code}"), QuoteString(url))
    status, body = 0, ""
    for attempt in range(1, POST_ATTEMPTS + 1):
        _ok, output = run_on_host(command)
        lines = output.stdout_lines
        status = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        body = "\n".join(lines[:-1])[:300]
        if status and status < 500:
            return status, body
        if attempt < POST_ATTEMPTS:
            _say(f"POST {url} answered {status or 'nothing'}; retry {attempt} of "
                 f"{POST_ATTEMPTS - 1}")
            time.sleep(attempt)  # bounded backoff between attempts
    return status, body


def _admin(swap: Swap, action: str, ids: tuple[str, ...]) -> str | None:
    """Disable or enable ``ids``; the error, or None."""
    for node_id in ids:
        status, body = _post(f"{swap.admin_url}/nodes/{node_id}/{action}")
        if status != 200:
            return f"{action} of ML node {node_id} answered {status or 'nothing'}: {body}"
        _say(f"ML node {node_id} {action}d in the api")
    return None


def _recreate(swap: Swap, image: str | None = None) -> str | None:
    """``compose up -d --no-deps`` of the service only; with ``image``, through a one-off layer
    on stdin that sets it (the rollback). The error, or None."""
    files = list(swap.files) + (["-"] if image else [])
    layer = json.dumps({"services": {swap.service: {"image": image}}}) if image else None
    command = StringCommand("cd", QuoteString(swap.directory), "&&",
                            compose_command(files, "up", "-d", "--no-deps",
                                            QuoteString(swap.service)))
    ok, output = run_on_host(command, stdin=layer)
    if ok:
        return None
    return "; ".join(output.stderr_lines[-3:]) or "docker compose up failed"


def _reload_proxy(swap: Swap) -> None:
    """``nginx -t`` then a graceful reload in the ML proxy: nginx re-resolves the recreated
    container now instead of after its resolver's ``valid`` time (or never, without
    ``resolve``). A proxy that is not running is left alone; the api's view below tells."""
    test = compose_command(list(swap.files), "exec", "-T", QuoteString(swap.proxy_service),
                           "nginx", "-t")
    reload = compose_command(list(swap.files), "exec", "-T", QuoteString(swap.proxy_service),
                             "nginx", "-s", "reload")
    ok, _ = run_on_host(StringCommand("cd", QuoteString(swap.directory), "&&", test, "&&",
                                      reload))
    _say("ML proxy reloaded" if ok else "ML proxy not reloaded (not running?)")


def _readiness(swap: Swap) -> tuple[bool, bool, str]:
    """(ready, the container answers, what is still missing)."""
    ok, output = run_on_host(probe_command(swap.directory, list(swap.files), swap.service,
                                           [MLNODE_HEALTH, MLNODE_STATE]))
    found = parse_probe(output.stdout_lines if ok else [])
    health, st = answer(found, MLNODE_HEALTH), answer(found, MLNODE_STATE)
    missing = []
    if health["status"] != 200:
        missing.append(f"MLNode /health {health['status'] or 'no answer'}")
    doc = st["json"] if isinstance(st["json"], dict) else {}
    if not (doc.get("state") == "INFERENCE" and doc.get("inference_healthy")):
        missing.append(f"model not loaded (MLNode state {doc.get('state') or 'unknown'})")
    api = _api_nodes(swap.admin_url)
    if api is None:
        missing.append("admin API silent")
    else:
        for node_id in swap.nodes:
            node = api.get(node_id) or {}
            status = node.get("current_status") or "unknown"
            if status != "INFERENCE":
                reason = f" ({node['failure_reason'][:120]})" if node.get("failure_reason") else ""
                missing.append(f"api: {node_id} {status}{reason}")
    answers = health["status"] != 0 or st["status"] != 0
    return not missing, answers, "; ".join(missing)


def _wait_ready(swap: Swap, image: str) -> str | None:
    """Bounded wait for the recreated MLNode; the error, or None."""
    started = time.monotonic()
    next_note, last, reloaded = started + PROGRESS_EVERY, None, False
    while True:
        ready, answers, missing = _readiness(swap)
        waited = time.monotonic() - started
        if answers and not reloaded:
            _reload_proxy(swap)
            reloaded = True
            continue
        if ready:
            _say(f"{swap.service} ({image}) serves its model and the api reports "
                 f"{', '.join(swap.nodes) or 'it'} INFERENCE after {waited:.1f} s")
            return None
        if waited > swap.timeout:
            return f"{swap.service} ({image}) not ready within {swap.timeout:.0f} s: {missing}"
        if missing != last or time.monotonic() >= next_note:
            _say(f"waiting for {swap.service} ({image}): {missing} ({waited:.0f} s of "
                 f"{swap.timeout:.0f})")
            last, next_note = missing, time.monotonic() + PROGRESS_EVERY
        time.sleep(swap.interval)  # the poll interval of a bounded wait


def _record(swap: Swap, record: ImageSwap, **changes) -> ImageSwap:
    updated = ImageSwap.model_validate({**record.model_dump(), **changes})
    NodeState(swap.key_name).set_swap(updated)
    return updated


def _fail(line: str) -> bool:
    logger.error(f"{host.print_prefix}{line}")
    return False


def _run(swap: Swap) -> bool:
    node = NodeState(swap.key_name)
    record = node.swaps().swaps.get(swap.service)
    if record is None or record.step not in OPEN_STEPS or record.target != swap.target:
        record = ImageSwap(service=swap.service, previous=swap.previous, target=swap.target,
                           nodes=list(swap.nodes), started=now())
        node.set_swap(record)
    if not swap.resume:
        error = _admin(swap, "disable", swap.nodes)
        if error:
            _admin(swap, "enable", swap.nodes)  # those already disabled come back
            _record(swap, record, step="rolled back", finished=now(), failure=error)
            return _fail(f"swap of {swap.service} not started: {error}")
        record = _record(swap, record, step="disabled")
        _say(f"recreating {swap.service} with {swap.target} (was {swap.previous})")
        error = _recreate(swap)
        if error is None:
            record = _record(swap, record, step="recreated")
    else:
        error = None
        _say(f"resuming the swap of {swap.service}: it runs {swap.target}; waiting, then enable")
    error = error or _wait_ready(swap, swap.target)
    if error is None:
        error = _admin(swap, "enable", swap.nodes)
        if error is None:
            _record(swap, record, step="done", finished=now(), failure=None)
            _say(f"{swap.service} swapped to {swap.target}")
            return True
        return _fail(f"{swap.service} runs {swap.target} but {error}; re-run to enable")
    return _roll_back(swap, record, error)


def _roll_back(swap: Swap, record: ImageSwap, error: str) -> bool:
    logger.error(f"{host.print_prefix}{error}; rolling back to {swap.previous}")
    if swap.previous == swap.target:
        problem = "the previous image is the target"
    else:
        problem = _recreate(swap, image=swap.previous) or _wait_ready(swap, swap.previous)
    if problem is None:
        problem = _admin(swap, "enable", swap.nodes)
        after = "nodes enabled" if problem is None else problem
    else:
        after = f"the previous image did not come back either ({problem}); ML node(s) " \
                f"{', '.join(swap.nodes)} stay disabled so nothing is routed to a silent MLNode"
    _record(swap, record, step="rolled back", finished=now(), failure=error)
    return _fail(f"swap of {swap.service} to {swap.target} failed: {error}. Rolled back to "
                 f"{swap.previous}: {after}. The host's files still name {swap.target}: set "
                 "the previous image in group data, or fix the new one and run again")


@operation()
def image_swapped(key_name: str, directory: str, files: list[str], service: str, image: str,
                  nodes: list[str], admin_url: str, epoch_url: str,
                  proxy_service: str = "inference", min_blocks: int = 100,
                  timeout: float = 1800, interval: float = 2.0):
    """
    Make an MLNode service run ``image`` by the guarded swap (see the module): never a bare
    recreate. No change when its container runs ``image`` and no swap is open; none when it
    has no container yet (``compose up`` creates it). A swap cut by a lost connection is
    resumed from the node's local state.

    + key_name: the node (its local state keeps the previous image)
    + directory: the compose project directory
    + files: compose files, in ``-f`` order (they already name ``image``)
    + service: the MLNode service, e.g. ``mlnode-308``
    + image: the image it must run
    + nodes: the ML node ids it serves (disabled in the api for the swap)
    + admin_url: the admin API base, e.g. ``http://127.0.0.1:9200/admin/v1``
    + epoch_url: the api's ``/v1/epochs/latest``
    + proxy_service: the ML proxy (nginx) service, reloaded after the recreate
    + min_blocks: refuse when fewer blocks are left to the next PoC
    + timeout: seconds the new MLNode has to load its model before the swap is rolled back
    + interval: seconds between two polls

    **Example:**

    .. code:: python

        swap.image_swapped(key_name="fra-01", directory=join, files=files,
                           service="mlnode-308", image="ghcr.io/gonka-ai/mlnode:3.0.16",
                           nodes=["node1"], admin_url=ADMIN,
                           epoch_url="http://127.0.0.1:8000/v1/epochs/latest")
    """
    # None: no project yet (a fresh host's dry run); then nothing runs to be swapped.
    project = host.get_fact(ComposeState, directory=directory, files=files) or {}
    entry = project.get(service) or {}
    running = entry.get("image") if entry.get("state") else None
    record = NodeState(key_name).swaps().swaps.get(service)
    open_swap = record if record is not None and record.step in OPEN_STEPS else None
    if open_swap is None and running in (None, image):
        host.noop(f"{service} runs {image}" if running else
                  f"{service} has no container yet: compose up creates it with {image}")
        return
    previous = open_swap.previous if open_swap else running
    resume = running == image
    if resume:
        plan = (f"finish the swap of {service} to {image} cut at '{open_swap.step}': wait for "
                f"the model, enable {', '.join(open_swap.nodes) or 'no node'}")
        ids = tuple(open_swap.nodes)
    else:
        epoch = need(host.get_fact(EpochPhase, url=epoch_url), "the api's epoch phase")
        why = swap_refusal(epoch, min_blocks)
        if why:
            yield from refuse(f"{service}: not swapping {previous} -> {image}: {why}")
            return
        enabled = _enabled(admin_url, nodes)
        ids = tuple(open_swap.nodes) if open_swap else tuple(enabled)
        plan = (f"swap {service} from {previous} to {image} ({describe(epoch)}): disable "
                f"{', '.join(ids) or 'no enabled ML node'} in the api, recreate only {service}, "
                f"wait for the model (at most {timeout:.0f} s), enable; on failure back to "
                f"{previous}")
    if record is not None and record.step == "rolled back" and record.target == image:
        logger.warning(f"{host.print_prefix}the last swap of {service} to {image} failed "
                       f"({record.failure}); trying again")
    logger.info(f"{host.print_prefix}{'' if state.is_executing else 'would '}{plan}")
    swap = Swap(key_name=key_name, directory=directory, files=tuple(files), service=service,
                previous=previous, target=image, nodes=ids, admin_url=admin_url,
                proxy_service=proxy_service, timeout=timeout, interval=interval, resume=resume)
    yield from host_step(_run, swap, what=f"the swap of {service}")


def _enabled(admin_url: str, nodes: list[str]) -> list[str]:
    """Those of ``nodes`` the api knows and has enabled: a node the operator disabled stays
    disabled after the swap, and one the api does not know has nothing routed to it."""
    found = need(host.get_fact(HttpGet, url=f"{admin_url}/nodes", attempts=3),
                 "the api's ML nodes")
    if found["status"] != 200 or not isinstance(found["json"], list):
        if state.is_executing:
            raise RuntimeError(f"the admin API answered {found['status'] or 'nothing'}: "
                               "cannot take the ML nodes out before the swap")
        return list(nodes)
    known = {(e.get("node") or {}).get("id"): e.get("state") or {} for e in found["json"]}
    return [n for n in nodes
            if n in known and (known[n].get("admin_state") or {}).get("enabled", True)]
