"""Each host through its operations without waiting for the others at every operation.

pyinfra's default run (``pyinfra/api/operations.py::run_ops``) runs operation N on every host and
waits for the slowest before operation N+1: on a fleet, every operation costs the slowest host's
round trip, and a host that needs nothing waits for one that is busy. pyinfra's own
``--no-wait`` (``_run_no_wait_ops``) drops the barriers but also the per-operation callbacks
(the audit records nothing) and the failure handling (a failed host's greenlet raises; the host
is never marked failed).

Here, with ``-y`` (no interactive failure prompt), each host runs its operations in order in
its own greenlet; a host whose operation fails stops there and is marked failed (pyinfra's
``fail_hosts``, so ``--fail-percent`` still ends the run: the other hosts stop before their
next operation), the others go on. After all hosts are through (or at a barrier, below) every
operation's ``operation_end`` callback fires, so the audit and the report see each host's
result as before. The order on one host is unchanged; nothing in ``deploys/node.py`` depends
on another host's progress: registration, cosmovisor binaries and the guarded MLNode swap each
act on their own host, and the MLNode upgrade stages are separate runs (``--data stage=…``).
An operation that orders hosts explicitly keeps pyinfra's barrier: ``_serial``, ``_run_once``,
or ``_parallel`` smaller than the fleet runs alone, with every host done with what came
before it, as in pyinfra's default run.

Without ``-y`` (the operator confirmed a plan and is prompted at the first failure),
``--serial``, ``--no-wait`` or ``GONKA_DEPLOY_BARRIERS=1``: pyinfra's own run, unchanged.
"""

from __future__ import annotations

import os

import gevent
from pyinfra import logger
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import _run_single_op, run_host_op, run_ops as pyinfra_run_ops
from pyinfra.api.util import log_operation_start
from pyinfra.context import ctx_host, ctx_state


def wanted(state, serial: bool, no_wait: bool) -> bool:
    if serial or no_wait or os.environ.get("GONKA_DEPLOY_BARRIERS") == "1":
        return False
    # -y: no change detection and no failure prompt (pyinfra_cli sets FAIL_PERCENT=0 and a
    # prompting should_raise_failed_hosts only without it)
    return not state.should_check_for_changes()


def is_barrier(state, op_hash: str, hosts: int) -> bool:
    args = state.get_op_meta(op_hash).global_arguments
    parallel = args.get("_parallel")
    return bool(args.get("_serial") or args.get("_run_once") or (parallel and parallel < hosts))


def run_ops(state, serial: bool = False, no_wait: bool = False):
    """pyinfra's ``run_ops``, without a barrier per operation (see the module's docstring)."""
    if not wanted(state, serial, no_wait):
        return pyinfra_run_ops(state, serial=serial, no_wait=no_wait)
    state.is_executing = True
    hosts = len(state.inventory.get_active_hosts())
    with ctx_state.use(state):
        segment: list[str] = []
        for op_hash in state.get_op_order():
            if is_barrier(state, op_hash, hosts):
                _run_segment(state, segment)
                segment = []
                _run_single_op(state, op_hash)
            else:
                segment.append(op_hash)
        _run_segment(state, segment)


def _run_segment(state, ops: list[str]) -> None:
    if not ops:
        return
    for op_hash in ops:
        state.trigger_callbacks("operation_start", op_hash)
    logged: set[str] = set()
    stop: list[PyinfraError] = []

    def run_host(host) -> None:
        for op_hash in ops:
            if stop:
                return
            if op_hash not in logged:       # each operation's header once, by its first host
                logged.add(op_hash)
                log_operation_start(state.get_op_meta(op_hash))
            with ctx_host.use(host):
                ok = run_host_op(state, host, op_hash)
            if not ok:
                try:
                    state.fail_hosts({host})
                except PyinfraError as exc:   # --fail-percent reached, or no host left
                    stop.append(exc)
                return

    greenlets = [state.pool.spawn(run_host, host)
                 for host in list(state.inventory.get_active_hosts())]
    gevent.joinall(greenlets, raise_error=True)
    for op_hash in ops:
        state.trigger_callbacks("operation_end", op_hash)
    if stop:
        logger.debug(f"run stopped: {stop[0]}")
        raise stop[0]
