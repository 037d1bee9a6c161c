"""Phase 7: check a running host end to end; a failed check fails the host."""

from __future__ import annotations

import json

from pyinfra import host, logger, state

from ..facts.verify import Verification
from ..state import NodeState, Verification as VerificationRecord, now
from .util import operation, refuse

MARKS = {True: "ok", None: "WARN", False: "FAIL"}


def script_args(join_dir: str, api_port: int, version: str, service: str, seed_api_url: str,
                account_address: str, public_url: str, gpu: dict, mlnode_ids: list[str],
                ml_port: int = 8080, upgrades: list[dict] | None = None) -> str:
    """The JSON argument of the host-side script (sorted: the same fact key every run)."""
    args = {
        "join_dir": join_dir, "api_port": api_port, "version": version, "service": service,
        "seed_api_url": seed_api_url, "account_address": account_address,
        "public_url": public_url, "gpu": gpu, "mlnode_ids": list(mlnode_ids),
        "ml_url": f"http://127.0.0.1:{ml_port}",
    }
    if upgrades is not None:
        args["upgrades"] = [{"name": u["name"], "height": u.get("height"),
                             "version": u.get("version")} for u in upgrades]
    return json.dumps(args, sort_keys=True)


def table(checks: list[dict]) -> list[str]:
    width = max((len(c["name"]) for c in checks), default=0)
    return [f"  {MARKS.get(c['ok'], 'FAIL'):<4}  {c['name']:<{width}}  {c['detail']}"
            for c in checks]


def summary(checks: list[dict]) -> str:
    failed = sum(1 for c in checks if c["ok"] is False)
    warned = sum(1 for c in checks if c["ok"] is None)
    return (f"{len(checks) - failed - warned} passed, {warned} warning(s), {failed} failed "
            f"of {len(checks)} checks")


@operation()
def stack(join_dir: str, api_port: int, version: str, service: str, seed_api_url: str,
          account_address: str, public_url: str, gpu: dict, mlnode_ids: list[str],
          ml_port: int = 8080, key_name: str | None = None,
          upgrades: list[dict] | None = None):
    """
    Verify a running Gonka host: chain sync, the participant on the seed api, proxy health and
    dashboard, the api's ML nodes, MLNode state, GPUs and CUDA inside the MLNode container,
    recent container logs, the chain binaries that run and the readiness for a pending chain
    upgrade. Changes nothing on the host.

    + join_dir: ``deploy/join`` of the gonka clone (its ``.env`` names the compose files)
    + api_port: public proxy port
    + version: current MLNode URL segment, e.g. ``v3.0.8``
    + service: its compose service, e.g. ``mlnode-308``
    + seed_api_url: seed api the participant is looked up on
    + account_address: the cold account address (``gonka1…``)
    + public_url: the ``inferenceUrl`` the participant must have
    + gpu: ``{"model", "count", "vram_gb"}``
    + mlnode_ids: ML node ids the admin api must know
    + ml_port: host port of the ML proxy (``inference`` nginx) management server
    + key_name: the node whose local state keeps the result (every check and a timestamp),
      written at execution time only
    + upgrades: the release profile's chain upgrades (name, height, version): the binaries
      that run are compared with the newest one at or below the chain's height, and a pending
      plan is checked for readiness (binaries placed, disk for cosmovisor's backup)

    Facts are read again at execution time: in a preview (``--dry``, or before the changes of
    a run are applied) failed checks only log that verification follows the changes.

    **Example:**

    .. code:: python

        verify.stack(join_dir="/mnt/ssd/gonka/deploy/join", api_port=8000, version="v3.0.8",
                     service="mlnode-308", seed_api_url="http://node2.gonka.ai:8000",
                     account_address="gonka1…", public_url="http://203.0.113.10:8000",
                     gpu={"model": "H100", "count": 8, "vram_gb": 80}, mlnode_ids=["node1"])
    """
    args = script_args(join_dir, api_port, version, service, seed_api_url, account_address,
                       public_url, gpu, mlnode_ids, ml_port, upgrades)
    result = host.get_fact(Verification, args=args)
    checks = (result or {}).get("checks") or [
        {"name": "verification", "ok": False, "detail": "the check script printed no result"}]
    failed = [c for c in checks if c["ok"] is False]
    if failed and not state.is_executing:
        logger.info(f"{host.print_prefix}verification runs after the changes above")
        host.noop(f"{len(failed)} of {len(checks)} checks fail before the changes")
        return
    if key_name and state.is_executing:
        NodeState(key_name).set_verification(VerificationRecord(
            host=host.name, at=now(), ok=not failed, summary=summary(checks), checks=checks))
    logger.info(f"{host.print_prefix}verification: {summary(checks)}")
    for line in table(checks):
        logger.info(f"{host.print_prefix}{line}")
    if not failed:
        warned = sum(1 for c in checks if c["ok"] is None)
        host.noop(f"all {len(checks)} checks passed"
                  + (f" ({warned} warning(s))" if warned else ""))
        return
    reasons = "; ".join(f"{c['name']} ({c['detail']})" for c in failed)
    yield from refuse(f"verification failed: {reasons}")
