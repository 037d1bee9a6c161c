"""Hooks into a pyinfra run: validate the whole inventory before any host is touched.

``config.py`` at the repo root (pyinfra loads it before the inventory) calls :func:`install`.
The first ``host_before_connect`` validates every host of the inventory; a bad inventory stops
the run with one error block before any connection is made. The deploys read their validated
config through :func:`host_config`, which validates on demand when the hook was not installed.
"""

from __future__ import annotations

import gevent.hub
from pyinfra import logger
from pyinfra.api.state import BaseStateCallback
from pyinfra_cli.exceptions import CliError

from .counting import counter_from_env
from .factcache import FactCache, enabled as fact_cache_enabled
from .report import render_report
from .schema import HostConfig
from .state import NodeState
from .validate import format_problems, validate_hosts

_ATTR = "_gonka_configs"


class InventoryRejected(CliError):
    """The inventory failed validation; the message is the whole error block."""


# A failed check raises inside pyinfra's connect greenlets: gevent would print a traceback for
# each one. Treat it like SystemExit, which gevent passes on quietly.
gevent.hub.Hub.NOT_ERROR = (*gevent.hub.Hub.NOT_ERROR, InventoryRejected)


def validate_state(state) -> dict[str, HostConfig]:
    """Validate every host of ``state.inventory`` once; raise InventoryRejected on a problem."""
    configs = getattr(state, _ATTR, None)
    if configs is not None:
        return configs
    hosts = [(host.name, host.data.dict()) for host in state.inventory]
    configs, problems = validate_hosts(hosts)
    if problems:
        raise InventoryRejected("\n" + format_problems(problems, len(hosts)))
    setattr(state, _ATTR, configs)
    return configs


class ValidateBeforeConnect(BaseStateCallback):
    @staticmethod
    def host_before_connect(state, host):
        validate_state(state)


class AuditRecorder(BaseStateCallback):
    """One audit line per applied host (the node's local state): the operations that changed
    something, and the one that failed. A dry run executes nothing and records nothing."""

    def __init__(self):
        self.changes: dict[str, list[str]] = {}
        self.failed: dict[str, list[str]] = {}

    def operation_end(self, state, op_hash):
        name = ", ".join(sorted(state.get_op_meta(op_hash).names)) or op_hash
        for host in state.inventory:
            op_data = state.ops.get(host, {}).get(op_hash)
            if op_data is None or not op_data.operation_meta.is_complete():
                continue
            changed = self.changes.setdefault(host.name, [])
            if not op_data.operation_meta.did_succeed():
                self.failed.setdefault(host.name, []).append(name)
            elif op_data.operation_meta.did_change():
                changed.append(name)

    def host_disconnect(self, state, host):
        configs = getattr(state, _ATTR, None) or {}
        if host.name not in self.changes or host.name not in configs:
            return
        config = configs[host.name]
        NodeState(config.key_name).append_audit(host.name, self.changes[host.name],
                                                failed=self.failed.get(host.name, []))
        print_report(config, self.changes[host.name], self.failed.get(host.name, []))


def print_report(config: HostConfig, changes: list[str], failed: list[str]) -> None:
    """The host's final report after an apply: printed, and kept in the node's local state."""
    node = NodeState(config.key_name)
    verification = node.verification()
    text = render_report(config, node.identity().node_id,
                         changes + [f"FAILED: {name}" for name in failed],
                         verification.model_dump() if verification else None,
                         node.warm_address(), node.participation().model_dump())
    node.set_report(text)
    logger.info("\n" + text)


def install() -> None:
    """Register the check on this run's state (call from config.py).

    pyinfra resets ``state.callback_handlers`` in ``State.init``, which runs after config.py,
    so the handler is added right after that init, on this state object only.
    """
    from pyinfra import state

    run_state = state._get_module()  # the real State behind the context proxy
    if getattr(run_state, "_gonka_hooked", False):
        return
    original_init = run_state.init
    counter = counter_from_env()  # the bench's command count (off by default)

    def init(*args, **kwargs):
        original_init(*args, **kwargs)
        run_state.add_callback_handler(ValidateBeforeConnect())
        run_state.add_callback_handler(AuditRecorder())
        if counter:  # first: it counts what really leaves, under the cache
            run_state.add_callback_handler(counter)
        if fact_cache_enabled():
            run_state.add_callback_handler(FactCache())

    run_state.init = init
    run_state._gonka_hooked = True
    # No barrier per operation with -y (gonka_deploy/flow.py). The CLI calls `run_ops` by its
    # module-level name after loading this config: replace that name for this process.
    import pyinfra_cli.cli

    from . import flow, speedups

    pyinfra_cli.cli.run_ops = flow.run_ops
    speedups.install()   # controller CPU per operation (gonka_deploy/speedups.py)


def host_topology(config: HostConfig, host=None):
    """The host's release topology (:mod:`.topology`). A release whose files cannot be had or
    do not merge stops the run, naming the host and the file: deploy code runs for every host
    before any operation executes, so nothing has been touched (GOTCHAS #14)."""
    from pyinfra import host as current_host

    from .topology import TopologyError, topology

    try:
        return topology(config)
    except TopologyError as exc:  # SystemExit: pyinfra stops the whole run without a traceback
        name = (host or current_host).name
        raise SystemExit(f"{name}: release: {exc}") from None


def host_config(host=None) -> HostConfig:
    """The validated config of the current (or given) host."""
    from pyinfra import host as current_host, state

    host = host or current_host
    return validate_state(state)[host.name]
