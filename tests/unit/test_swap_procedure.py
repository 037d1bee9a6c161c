"""The guarded swap's procedure (operations/swap.py ``_run``) against a scripted host: the order
of disable, recreate, wait and enable, and the rollback when the new image never gets healthy."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.operations import swap as swapmod
from gonka_deploy.state import NodeState
from tests.unit.fixtures import FakeHost

OLD, NEW = "ghcr.io/gonka-ai/mlnode:3.0.14-post2", "ghcr.io/gonka-ai/mlnode:3.0.16"


class ScriptedHost:
    """Answers the swap's host commands from a tiny model of the host: which image runs, and
    whether that image ever gets healthy. Records what was done, in order."""

    def __init__(self, healthy: set[str], disable_status: int = 200):
        self.image, self.healthy = OLD, healthy
        self.disable_status = disable_status
        self.done: list[str] = []

    def __call__(self, command, stdin=None):
        text = command.get_raw_value()
        out = SimpleNamespace(stdout_lines=[], stderr_lines=[])
        if "-X POST" in text:
            node, action = text.rsplit("/", 2)[-2:]
            status = self.disable_status if action == "disable" else 200
            self.done.append(f"{action} {node}" if status == 200 else f"{action} failed")
            out.stdout_lines = [json.dumps({"message": f"node {action}d successfully"}),
                                str(status)]
            return True, out
        if " up -d --no-deps " in text:
            self.image = json.loads(stdin)["services"]["mlnode-308"]["image"] if stdin else NEW
            self.done.append(f"recreate {self.image}")
            return True, out
        if "nginx" in text:
            self.done.append("reload proxy")
            return True, out
        ok = self.image in self.healthy
        if "python3 -c" in text:  # the probe inside the MLNode container
            out.stdout_lines = [
                json.dumps({"url": swapmod.MLNODE_HEALTH, "status": 200 if ok else 503,
                            "json": {}}),
                json.dumps({"url": swapmod.MLNODE_STATE, "status": 200,
                            "json": {"state": "INFERENCE" if ok else "STOPPED",
                                     "inference_healthy": ok}})]
            return True, out
        if "/admin/v1/nodes" in text:  # the api's view
            out.stdout_lines = ["200", "attempts=1", json.dumps([
                {"node": {"id": "node1"},
                 "state": {"current_status": "INFERENCE" if ok else "FAILED",
                           "failure_reason": "" if ok else "inference up: HTTP 500"}}])]
            return True, out
        raise AssertionError(f"unexpected host command: {text}")


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path))

    def go(scripted: ScriptedHost, resume: bool = False) -> bool:
        monkeypatch.setattr(swapmod, "run_on_host", scripted)
        monkeypatch.setattr(swapmod.time, "sleep", lambda s: None)
        plan = swapmod.Swap(key_name="fra-01", directory="/j", files=("a.yml",),
                            service="mlnode-308", previous=OLD, target=NEW, nodes=("node1",),
                            admin_url="http://127.0.0.1:9200/admin/v1",
                            proxy_service="inference", timeout=0.2, interval=0.01,
                            resume=resume)
        with ctx_state.use(MagicMock(is_executing=True)), ctx_host.use(FakeHost({})):
            return swapmod._run(plan)

    return go


def record():
    return NodeState("fra-01").swaps().swaps["mlnode-308"]


def test_the_node_is_disabled_before_the_recreate_and_enabled_after_the_model(run):
    host = ScriptedHost(healthy={OLD, NEW})
    assert run(host) is True
    assert host.done == ["disable node1", f"recreate {NEW}", "reload proxy", "enable node1"]
    assert record().step == "done" and record().previous == OLD


def test_an_image_that_never_gets_healthy_is_rolled_back_and_the_node_enabled(run):
    host = ScriptedHost(healthy={OLD})
    assert run(host) is False
    assert host.done == ["disable node1", f"recreate {NEW}", "reload proxy",
                         f"recreate {OLD}", "reload proxy", "enable node1"]
    assert record().step == "rolled back"
    assert "not ready within 0 s: MLNode /health 503" in record().failure


def test_when_the_previous_image_fails_too_the_node_stays_disabled(run):
    host = ScriptedHost(healthy=set())
    assert run(host) is False
    assert host.done == ["disable node1", f"recreate {NEW}", "reload proxy",
                         f"recreate {OLD}", "reload proxy"]   # never enabled


def test_a_failed_disable_recreates_nothing(run):
    host = ScriptedHost(healthy={OLD, NEW}, disable_status=404)
    assert run(host) is False
    assert not any(step.startswith("recreate") for step in host.done)
    assert record().step == "rolled back" and "disable of ML node node1" in record().failure


def test_a_cut_swap_resumes_with_the_wait_and_the_enable(run):
    host = ScriptedHost(healthy={NEW})
    host.image = NEW
    assert run(host, resume=True) is True
    assert host.done == ["reload proxy", "enable node1"]
