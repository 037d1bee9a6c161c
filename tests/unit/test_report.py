"""The end-of-run report of a host: content, the exact grant command, never a secret."""

from __future__ import annotations

from gonka_deploy.address import account_address
from gonka_deploy.report import grant_command, render_report
from gonka_deploy.schema import HostConfig

from .helpers import PASSWORD, PUBKEY_02, host_config

NODE_ID = "5b0e3c0a-8f0e-4c53-9a55-0d7f2f1a2b3c"
WARM = "gonka1warmaddressxxxxxxxxxxxxxxxxxxxxxxxxxx"
VERIFIED = {"at": "2026-11-22T14:00:00+00:00", "checks": [
    {"name": "chain_sync", "ok": None, "detail": "catching up: height 500 of 1000 (50.0%)"},
    {"name": "gpu", "ok": False, "detail": "1 GPU(s), want 4"},
    {"name": "cuda", "ok": True, "detail": "torch 2.11.0: cuda available, 4 device(s)"},
]}


def config(**changes) -> HostConfig:
    return host_config(**changes)


def test_report_names_identity_addresses_changes_and_urls():
    cfg = config(location="fra", tags=["h100", "prod"])
    text = render_report(cfg, NODE_ID, ["Render config.env", "Start the stack"], VERIFIED, WARM)
    cold = account_address(PUBKEY_02)
    seed = cfg.seed_api_url.rstrip("/")
    for expected in ("unit-01", NODE_ID, "fra", "h100, prod",
                     "http://203.0.113.10:8000", "tcp://203.0.113.10:5000", cold, WARM,
                     "  - Render config.env", "  - Start the stack",
                     "http://203.0.113.10:8000/health", "http://203.0.113.10:8000/",
                     f"{seed}/v2/participants/{cold}",
                     "http://127.0.0.1:9200/admin/v1/nodes", "http://127.0.0.1:26657/status"):
        assert expected in text, expected


def test_grant_command_is_exact_for_the_operators_machine():
    cfg = config(seed_api_url="http://node2.gonka.ai:8000/")
    text = render_report(cfg, NODE_ID, [], None, WARM)
    expected = ("inferenced tx inference grant-ml-ops-permissions gonka-account-key " + WARM
                + " --from gonka-account-key --keyring-backend file --gas 2000000"
                " --gas-prices 1ngonka --node http://node2.gonka.ai:8000/chain-rpc/")
    assert grant_command(WARM, "http://node2.gonka.ai:8000/") == expected
    assert f"  {expected}\n" in text


def test_without_a_warm_key_the_report_says_so_and_has_no_grant_command():
    text = render_report(config(), NODE_ID, [], None, None)
    assert "warm       not created yet" in text
    assert "grant-ml-ops-permissions" not in text


def test_nothing_changed_and_verification_not_run_are_stated():
    text = render_report(config(), NODE_ID, [], None, WARM)
    assert "changed this run\n  nothing\n" in text
    assert "verification\n  not run\n" in text


def test_verification_summary_lists_failures_and_warnings_not_passes():
    text = render_report(config(), NODE_ID, [], VERIFIED, WARM)
    assert "1 of 3 checks passed, 1 warning(s), 1 failed (at 2026-11-22T14:00:00+00:00)" in text
    assert "  FAIL  gpu: 1 GPU(s), want 4" in text
    assert "  WARN  chain_sync: catching up" in text
    assert "cuda:" not in text


def test_report_never_contains_the_keyring_password():
    cfg = config(location=PASSWORD[:5])
    text = render_report(cfg, NODE_ID, ["Render config.env"], VERIFIED, WARM)
    assert PASSWORD not in text
    assert cfg.keyring_password.get_secret_value() == PASSWORD  # the config did hold it


def test_report_shows_the_running_binaries_and_the_coming_upgrade_whatever_their_result():
    checks = [{"name": "chain_sync", "ok": True, "detail": "height 5"},
              {"name": "binaries", "ok": True, "detail": "node binary v0.2.15 = upgrade v0.2.15"},
              {"name": "upgrade_plan", "ok": False,
               "detail": "v0.2.16 at height 900 (20 blocks from now): NOT ready: missing x"}]
    text = render_report(config(), NODE_ID, [], {"checks": checks}, None)
    assert "  running      ok  node binary v0.2.15 = upgrade v0.2.15" in text
    assert "  next upgrade FAIL  v0.2.16 at height 900 (20 blocks from now): NOT ready" in text
    assert "chain binaries (cosmovisor)\n  not verified yet" in render_report(
        config(), NODE_ID, [], None, None)
