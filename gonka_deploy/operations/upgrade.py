"""Side-by-side MLNode upgrade steps: preconditions, the api's confirmation, the old MLNode's
stop, and the local record that makes a rollback one command."""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand

from ..facts.gonka import HttpGet
from ..facts.upgrade import UpgradeState, VersionStatus
from ..schema import MLNodeVersion
from ..state import NodeState, UpgradeHistory, UpgradeStage, now
from .util import need, operation, refuse


def _write(key_name: str, record: UpgradeHistory) -> bool:
    NodeState(key_name).set_upgrades(record)
    return True


@operation()
def recorded(key_name: str, stage: str, before: list[MLNodeVersion],
             after: list[MLNodeVersion]):
    """
    Remember, on the operator's machine, the versions a stage found and the ones it leaves (the
    node's upgrade history in its local state). A rollback returns to the last stage's
    ``before``.

    + key_name: the node
    + stage: prepare or cleanup
    + before: mlnode_versions before the stage
    + after: mlnode_versions after it

    **Example:**

    .. code:: python

        upgrade.recorded(key_name="fra-01", stage="prepare", before=old, after=new)
    """
    before = [MLNodeVersion.model_validate(v) for v in before]
    after = [MLNodeVersion.model_validate(v) for v in after]
    record = NodeState(key_name).upgrades()
    last = record.history[-1] if record.history else None
    if last and last.stage == stage and last.after == after and not last.undone:
        host.noop(f"{stage} is recorded for rollback")
        return
    entry = UpgradeStage(stage=stage, before=before, after=after, at=now())
    yield FunctionCommand(_write, (key_name, UpgradeHistory(history=[*record.history, entry])),
                          {})


@operation()
def undone(key_name: str):
    """
    Mark the latest recorded stage as undone once a rollback has restored its ``before``.

    + key_name: the node

    **Example:**

    .. code:: python

        upgrade.undone(key_name="fra-01")
    """
    record = NodeState(key_name).upgrades()
    if not record.history or record.history[-1].undone:
        host.noop("the latest stage is undone")
        return
    last = UpgradeStage.model_validate({**record.history[-1].model_dump(), "undone": now()})
    yield FunctionCommand(_write, (key_name, UpgradeHistory(history=[*record.history[:-1],
                                                                       last])), {})


@operation()
def switched(status_url: str, upgrades_url: str, version: str):
    """
    Refuse unless the api already calls ``version`` (the chain switched at the upgrade height).

    + status_url: the api's public status, e.g. ``http://127.0.0.1:8000/v1/status``
    + upgrades_url: the chain's pending partial upgrades (REST)
    + version: the new URL segment, e.g. ``v3.0.9``

    **Example:**

    .. code:: python

        upgrade.switched(status_url=s, upgrades_url=u, version="v3.0.9")
    """
    info = need(host.get_fact(UpgradeState, status_url=status_url, upgrades_url=upgrades_url),
                "the api's status and the chain's upgrade plans")
    if info["current"] == version:
        host.noop(f"the api calls {version}")
        return
    plan = next((p for p in info["pending"] if p["node_version"] == version), None)
    when = (f"the switch to {version} is at height {plan['height']} (now {info['height']})"
            if plan else f"no partial upgrade to {version} is pending on the chain")
    yield from refuse(f"the api still calls {info['current'] or 'an unknown version'}: {when}. "
                      "Run cleanup after the switch.")


@operation()
def pending(status_url: str, upgrades_url: str):
    """
    Print what the api calls now and the chain's pending partial upgrades (read-only).

    + status_url: the api's public status
    + upgrades_url: the chain's pending partial upgrades (REST)

    **Example:**

    .. code:: python

        upgrade.pending(status_url=s, upgrades_url=u)
    """
    info = need(host.get_fact(UpgradeState, status_url=status_url, upgrades_url=upgrades_url),
                "the api's status and the chain's upgrade plans")
    plans = ", ".join(f"{p['node_version']} at height {p['height']}" for p in info["pending"])
    line = (f"the api calls {info['current'] or 'unknown'} at height {info['height']}; "
            f"pending partial upgrades: {plans or 'none'}")
    logger.info(f"{host.print_prefix}{line}")
    host.noop(line)
    return
    yield


@operation()
def confirmed(admin_url: str, version: str):
    """
    The api confirms that every ML node answers at ``version`` (``version-status``).

    + admin_url: the admin API base, e.g. ``http://127.0.0.1:9200/admin/v1``
    + version: the URL segment to confirm

    **Example:**

    .. code:: python

        upgrade.confirmed(admin_url="http://127.0.0.1:9200/admin/v1", version="v3.0.9")
    """
    nodes = host.get_fact(VersionStatus, admin_url=admin_url, version=version)
    dead = {n: s for n, s in (nodes or {}).items() if not s.get("is_alive")}
    if nodes and not dead:
        host.noop(f"the api reaches {version} on {', '.join(sorted(nodes))}")
        return
    if not state.is_executing:
        logger.info(f"{host.print_prefix}will confirm {version} through the api once it runs")
        return
    detail = "; ".join(f"{n}: {s.get('error') or 'not alive'}" for n, s in dead.items())
    yield from refuse(f"the api cannot reach {version}: {detail or 'no answer from the api'}")


@operation()
def mlnode_stopped(state_url: str, stop_url: str, version: str):
    """
    Call ``.stop()`` on an MLNode (``POST /api/v1/stop``) before its GPUs are given to another.

    + state_url: its ``/api/v1/state`` through the ML proxy, e.g. ``…/v3.0.8/api/v1/state``
    + stop_url: its ``/api/v1/stop`` through the ML proxy
    + version: its URL segment (for messages)

    No change when it is already stopped or no longer answers.

    **Example:**

    .. code:: python

        upgrade.mlnode_stopped(state_url=s, stop_url=t, version="v3.0.8")
    """
    found = need(host.get_fact(HttpGet, url=state_url), f"MLNode {version} state")
    if found["status"] != 200 or (found["json"] or {}).get("state") == "STOPPED":
        host.noop(f"MLNode {version} is stopped or gone")
        return
    yield StringCommand("curl", "-sS", "--fail", "-m", "60", "-X", "POST",
                        QuoteString(stop_url))


# --- decisions taken when the stage runs, after the run lock -------------------------------
#
# A deploy's own code runs while pyinfra builds the operation list: before the run lock is
# taken and before the operator confirms. What a stage decides from the host (where `/` goes,
# whether the old MLNode still runs, whether a rollback would remove the MLNode the api calls)
# is therefore read in these operations' bodies, which run after the lock (each lock take is a
# read barrier for the fact cache, gonka_deploy/factcache.py), never in roles/upgrade.py.

def _api_calls(status_url: str, upgrades_url: str) -> str | None:
    """The MLNode version the api calls now (None when it does not say)."""
    info = host.get_fact(UpgradeState, status_url=status_url, upgrades_url=upgrades_url)
    return (info or {}).get("current")


@operation()
def routed_to_api(directory: str, files: list[str], contents: dict[str, str], status_url: str,
                  upgrades_url: str):
    """
    Route ``/`` of the ML proxy to the MLNode version the api calls when this runs.

    + directory: the compose project directory holding nginx.conf
    + files: compose files, in ``-f`` order
    + contents: nginx.conf per version ``/`` may go to, and ``""``: the one for any other
      (the current version)
    + status_url: the api's public status
    + upgrades_url: the chain's pending partial upgrades (REST)

    **Example:**

    .. code:: python

        upgrade.routed_to_api(directory=join, files=files, contents={"v3.0.9": a, "": b},
                              status_url=s, upgrades_url=u)
    """
    from . import nginx

    calls = _api_calls(status_url, upgrades_url)
    yield from nginx.config._inner(directory=directory, files=files,
                                   content=contents.get(calls or "", contents[""]))


@operation()
def rollback_keeps_called(status_url: str, upgrades_url: str, stage: str, kept: list[str],
                          added: list[str]):
    """
    Refuse a rollback that would remove the MLNode version the api calls now.

    + status_url: the api's public status
    + upgrades_url: the chain's pending partial upgrades (REST)
    + stage: the stage rolled back (for the message)
    + kept: the versions the rollback keeps
    + added: the versions the rolled-back stage added (the rollback removes them)

    **Example:**

    .. code:: python

        upgrade.rollback_keeps_called(status_url=s, upgrades_url=u, stage="cleanup",
                                      kept=["v3.0.8"], added=["v3.0.9"])
    """
    calls = _api_calls(status_url, upgrades_url)
    if calls and calls not in kept and calls in added:
        yield from refuse(f"the api calls {calls} (the chain switched to it): rolling back "
                          f"{stage} would remove the MLNode it calls. Keep {calls}; run "
                          "cleanup instead")
        return
    host.noop(f"the api calls {calls or 'an unknown version'}: the rollback keeps it"
              if calls in kept else f"the api calls {calls or 'an unknown version'}")


@operation()
def old_retired(directory: str, files: list[str], service: str, version: str,
                routes_first: str, routes_after: str):
    """
    Retire the old MLNode when its container still exists: ``/`` away from it first
    (``routes_first``), its model stopped, then routes without it (``routes_after``), then its
    container removed. No change when it is gone (a re-run of cleanup).

    + directory: the compose project directory
    + files: compose files, in ``-f`` order
    + service: the old MLNode's compose service
    + version: its URL segment
    + routes_first: nginx.conf with both versions, ``/`` to the new one
    + routes_after: nginx.conf without the old version

    **Example:**

    .. code:: python

        upgrade.old_retired(directory=join, files=files, service="mlnode-308",
                            version="v3.0.8", routes_first=a, routes_after=b)
    """
    from ..facts.compose import ComposeState
    from . import compose, nginx

    project = host.get_fact(ComposeState, directory=directory, files=files) or {}
    if not (project.get(service) or {}).get("state"):
        host.noop(f"MLNode {version} ({service}) is gone")
        return
    yield from nginx.config._inner(directory=directory, files=files, content=routes_first)
    yield from mlnode_stopped._inner(state_url=f"http://127.0.0.1:8080/{version}/api/v1/state",
                                     stop_url=f"http://127.0.0.1:8080/{version}/api/v1/stop",
                                     version=version)
    yield from nginx.config._inner(directory=directory, files=files, content=routes_after)
    yield from compose.removed._inner(directory=directory, files=files, services=[service])
