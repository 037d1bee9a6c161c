"""The chain's pending upgrade plan (operations/cosmovisor.py): the lines an unlisted plan's
refusal gives are what the operator pastes into a profile, and with them the plan is staged
from the profile, never before."""

from __future__ import annotations

import json
import shlex
from unittest.mock import MagicMock

from pyinfra.context import ctx_host, ctx_state

from gonka_deploy.operations import cosmovisor
from gonka_deploy.release import profiles

from .fixtures import FakeHost, command_text, fact_key, kwargs_key
from .test_releases import copy_profile, extra_dir  # noqa: F401 - the fixture

SEED = "http://node2.gonka.ai:8000"
ZIP = "https://github.com/gonka-ai/gonka/releases/download/release%2Fv0.2.17/"
HEIGHT = 7_000_000


def plan_answer() -> dict:
    info = {"binaries": {"linux/amd64": f"{ZIP}inferenced-amd64.zip?checksum=sha256:" + "7" * 64},
            "api_binaries": {"linux/amd64": f"{ZIP}decentralized-api-amd64.zip?checksum=sha256:"
                             + "8" * 64}}
    return {"status": 200, "attempts": 1, "body": "", "json": {"plan": {
        "name": "v0.2.17", "time": "0001-01-01T00:00:00Z", "height": str(HEIGHT),
        "info": json.dumps(info), "upgraded_client_state": None}}}


def run(profile: profiles.ReleaseProfile) -> list:
    """The operation for a running node just below the plan's height, on ``profile``."""
    from gonka_deploy.facts.cosmovisor import CosmovisorState
    from gonka_deploy.facts.gonka import HttpGet

    status = {"status": 200, "attempts": 1, "body": "", "json": {"result": {"sync_info": {
        "latest_block_height": str(HEIGHT - 500)}}}}
    home = {"started": True, "current": "upgrades/v0.2.16", "data_dir": True, "upgrades": {}}

    class State(FakeHost):
        def get_fact(self, cls, *args, **kwargs):
            if cls is CosmovisorState:
                names = json.loads(kwargs["args"])["upgrades"]
                empty = {n: {"dir": False, "files": {}, "marker": None} for n in names}
                return {"inference": {**home, "upgrades": empty},
                        "dapi": {**home, "upgrades": empty},
                        "free_bytes": 10 ** 12, "data_bytes": 10 ** 9}
            return super().get_fact(cls, *args, **kwargs)

    host = State({fact_key(HttpGet): {
        kwargs_key({"url": f"{SEED}/chain-rpc/status", "attempts": 4}): status,
        kwargs_key({"url": f"{SEED}/{cosmovisor.CURRENT_PLAN}", "attempts": 4}): plan_answer()}})
    with ctx_state.use(MagicMock(is_executing=False)), ctx_host.use(host):
        return [command_text(c) for c in cosmovisor.binaries._inner(
            join_dir="/mnt/ssd/gonka/deploy/join",
            upgrades=[u.model_dump() for u in profile.chain_upgrades],
            seed_rpc_url=f"{SEED}/chain-rpc/", seed_api_url=SEED,
            cache_dir="/mnt/ssd/.gonka-deploy/downloads", release=profile.name)]


def refusal(commands: list) -> str:
    assert len(commands) == 1 and commands[0].startswith("sh -c <REFUSE_SCRIPT> _ "), commands
    return shlex.split(commands[0].split(" _ ", 1)[1])[0]


def test_the_lines_an_unlisted_plan_gives_load_as_a_profile_entry_then_staged(
        extra_dir):  # noqa: F811 - the fixture
    message = refusal(run(profiles.load_profile("v0.2.16-post1")))
    assert "is not in release profile v0.2.16-post1's chain_upgrades: nothing staged" in message
    assert "VERIFY THESE VALUES AGAINST THE RELEASE ANNOUNCEMENT" in message
    lines = message.split("run the deploy again:\n", 1)[1]
    # The operator checks them, then appends them to the profile's list, as the message says.
    path = copy_profile("v0.2.16-post1", extra_dir, "next")
    path.write_text(path.read_text() + "\nchain_upgrades = _through(\"v0.2.16\") + [\n"
                    + lines + "\n]\n")
    profile = profiles.load_profile("next")
    assert profile.chain_upgrades[-1].model_dump() == {
        "name": "v0.2.17", "height": HEIGHT, "version": None, "binaries": {
            "inferenced": {"url": f"{ZIP}inferenced-amd64.zip", "sha256": "7" * 64,
                           "binary_sha256": None},
            "decentralized-api": {"url": f"{ZIP}decentralized-api-amd64.zip",
                                  "sha256": "8" * 64, "binary_sha256": None}}}
    (command,) = run(profile)
    assert command.startswith("python3 -c <COSMOVISOR_SCRIPT> install "), command
    items = json.loads(shlex.split(command.split(" install ", 1)[1])[0])["items"]
    # (v0.2.16, the landed upgrade, is fetched too: the fake home has no upgrade dirs at all.)
    assert sorted((i["upgrade"], i["program"], i["sha256"]) for i in items
                  if i["upgrade"] != "v0.2.16") == [
        ("v0.2.17", "decentralized-api", "8" * 64), ("v0.2.17", "inferenced", "7" * 64)]
