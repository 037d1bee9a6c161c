"""The MLNode upgrade stages decide from the host only after the run lock (roles/upgrade.py).

A deploy's own code runs while pyinfra builds the operation list: before the run lock is taken
(deploys/mlnode_upgrade.py takes it first, when the run executes) and before the operator
confirms. So the stages may read nothing from the host there; each decision (where `/` goes,
whether the old MLNode still runs, whether a rollback would remove the MLNode the api calls)
is an operation that reads the host when it runs, after the lock."""

from __future__ import annotations

import shlex
from unittest.mock import MagicMock

import pytest
from pyinfra.context import ctx_host, ctx_state

import roles.upgrade as role
from gonka_deploy.operations import upgrade
from gonka_deploy.render import COMPOSE_FILES
from gonka_deploy.state import UpgradeStage
from tests.unit.fixtures import FakeHost, command_text
from tests.unit.helpers import host_config

OLD = {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True}
NEW = {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.14", "current": False}


class NoReads:
    """The host while the deploy is defined: any read is the defect under test."""

    name = "gpu-fra-01"
    print_prefix = "[gpu-fra-01] "
    data: dict = {}

    def get_fact(self, cls, *args, **kwargs):
        raise AssertionError(f"{cls.__name__} read while the deploy is defined (before the "
                             "run lock and the confirmation)")

    def noop(self, description):  # pragma: no cover - operations are recorded, not run
        raise AssertionError("an operation ran while the deploy is defined")


class Recorder:
    """An operations module whose operations are only recorded, in order."""

    def __init__(self, module: str, calls: list):
        self.module, self.calls = module, calls

    def __getattr__(self, op: str):
        return lambda **kwargs: self.calls.append((f"{self.module}.{op}", kwargs))


@pytest.fixture
def defined(monkeypatch):
    """Run a stage's deploy code as pyinfra does when it builds the operation list."""
    calls: list = []
    for module in ("compose", "files", "health", "nginx", "upgrade"):
        monkeypatch.setattr(role, module, Recorder(module, calls))

    def run(stage, *args):
        with ctx_state.use(MagicMock(is_executing=False)), ctx_host.use(NoReads()):
            getattr(role, stage)._inner(*args)
        return calls

    return run


def config(*versions):
    # a release whose upstream files the repo stores (its topology is read, offline)
    return host_config(release="v0.2.14", mlnode_versions=list(versions))


def test_prepare_reads_nothing_and_routes_to_the_version_the_api_calls_when_it_runs(defined):
    calls = defined("prepare", config(OLD, NEW))
    (routed,) = [kw for op, kw in calls if op == "upgrade.routed_to_api"]
    assert set(routed["contents"]) == {"v3.0.8", "v3.0.9", ""}
    assert not [op for op, _ in calls if op == "nginx.config"]  # no route chosen in advance


def test_cleanup_reads_nothing_and_retires_the_old_mlnode_from_an_operation(defined):
    calls = defined("cleanup", config(OLD, NEW))
    ops = [op for op, _ in calls]
    assert ops.index("upgrade.switched") < ops.index("upgrade.old_retired")
    (retired,) = [kw for op, kw in calls if op == "upgrade.old_retired"]
    assert retired["service"] == "mlnode-308" and retired["version"] == "v3.0.8"
    assert "v3.0.8" in retired["routes_first"] and "v3.0.8" not in retired["routes_after"]
    # before: the old MLNode's stop and removal were planned (or not) from a read made here
    assert "upgrade.mlnode_stopped" not in ops and "compose.removed" not in ops


def test_rollback_reads_nothing_and_checks_the_called_mlnode_when_it_runs(defined):
    last = UpgradeStage(stage="prepare", before=[OLD], after=[OLD, NEW], at="2026-12-01")
    calls = defined("rollback", config(OLD, NEW), last)
    ops = [op for op, _ in calls]
    assert ops[0] == "upgrade.rollback_keeps_called"  # first: a refusal stops the rest
    assert calls[0][1]["kept"] == ["v3.0.8"] and calls[0][1]["added"] == ["v3.0.9"]
    assert ops.count("upgrade.routed_to_api") == 2 and "nginx.config" not in ops
    assert ops.index("upgrade.routed_to_api") < ops.index("compose.removed")


# --- the decisions, taken when the operation runs ---------------------------------------------

JOIN = "/mnt/ssd/gonka/deploy/join"
FILES = list(COMPOSE_FILES)
COMPOSE_KEY = f"directory={JOIN},files={FILES}"


def run(op, facts: dict, **kwargs) -> tuple[list, FakeHost]:
    host = FakeHost(facts)
    with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(host):
        return [command_text(c) for c in op._inner(**kwargs)], host


def retire(project: dict, mlnode_state: str = "RUNNING"):
    facts = {
        "compose.ComposeState": {COMPOSE_KEY: project},
        "files.ManagedFile": {f"path={JOIN}/nginx.conf": {"content": "old routes"}},
        "gonka.HttpGet": {"url=http://127.0.0.1:8080/v3.0.8/api/v1/state":
                          {"status": 200, "json": {"state": mlnode_state}}},
    }
    return run(upgrade.old_retired, facts, directory=JOIN, files=FILES, service="mlnode-308",
               version="v3.0.8", routes_first="ROUTES-FIRST", routes_after="ROUTES-AFTER")


def test_the_old_mlnode_is_retired_in_order_while_its_container_exists():
    running = {"mlnode-308": {"state": "running"}, "inference": {"state": "exited"}}
    commands, _ = retire(running)
    assert len(commands) == 4, commands
    first, stop, after, remove = commands
    assert "ROUTES-FIRST" in str(first)  # `/` away from the old one before its model stops
    assert shlex.split(stop)[:6] == ["curl", "-sS", "--fail", "-m", "60", "-X"]
    assert stop.endswith("http://127.0.0.1:8080/v3.0.8/api/v1/stop")
    assert "ROUTES-AFTER" in str(after)
    assert remove.endswith("rm -s -f mlnode-308")


def test_a_gone_old_mlnode_is_left_alone_whatever_was_planned():
    """State changed between the plan and the run (another run's cleanup finished while this
    one waited for the lock): nothing is routed, stopped or removed."""
    commands, host = retire({"mlnode-309": {"state": "running"}})
    assert commands == [] and host.noops == ["MLNode v3.0.8 (mlnode-308) is gone"]


def routed(calls: str | None, on_disk: str) -> tuple[list, FakeHost]:
    facts = {
        "upgrade.UpgradeState": {"current": calls, "height": 1200, "pending": []},
        "files.ManagedFile": {f"path={JOIN}/nginx.conf": {"content": on_disk}},
        "compose.ComposeState": {COMPOSE_KEY: {}},
    }
    return run(upgrade.routed_to_api, facts, directory=JOIN, files=FILES,
               contents={"v3.0.8": "TO-308", "v3.0.9": "TO-309", "": "TO-CURRENT"},
               status_url="http://127.0.0.1:8000/v1/status", upgrades_url="http://u")


@pytest.mark.parametrize("calls,wanted", [("v3.0.9", "TO-309"), ("v3.0.8", "TO-308"),
                                          (None, "TO-CURRENT"), ("v9.9.9", "TO-CURRENT")])
def test_routes_go_to_the_version_the_api_calls_when_they_are_written(calls, wanted):
    commands, host = routed(calls, on_disk=wanted)
    assert commands == [] and host.noops == [f"{JOIN}/nginx.conf is up to date"]
    commands, _ = routed(calls, on_disk="something else")
    assert len(commands) == 1 and wanted in str(commands[0])


def keeps(calls: str | None) -> tuple[list, FakeHost]:
    return run(upgrade.rollback_keeps_called,
               {"upgrade.UpgradeState": {"current": calls, "height": 1200, "pending": []}},
               status_url="http://127.0.0.1:8000/v1/status", upgrades_url="http://u",
               stage="cleanup", kept=["v3.0.8"], added=["v3.0.9"])


def test_a_rollback_that_would_remove_the_called_mlnode_is_refused_when_it_runs():
    commands, _ = keeps("v3.0.9")
    assert len(commands) == 1 and commands[0].startswith("sh -c <REFUSE_SCRIPT> _ ")
    assert "the api calls v3.0.9 (the chain switched to it)" in commands[0]


@pytest.mark.parametrize("calls", ["v3.0.8", None])
def test_a_rollback_that_keeps_the_called_mlnode_goes_on(calls):
    commands, host = keeps(calls)
    assert commands == [] and len(host.noops) == 1
