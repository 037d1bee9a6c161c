"""The participation plan and assessment: only what the chain lacks is sent, every missing item
is a warning with the exact command that fixes it, fees on every command."""

from __future__ import annotations

import copy

from gonka_deploy import participation as pp
from gonka_deploy.address import account_address

from .helpers import PUBKEY_02, host_config

MINIMAX, DS, GLM = ("MiniMaxAI/MiniMax-M2.7", "deepseek-ai/DeepSeek-V4-Flash-0731",
                    "zai-org/GLM-5.3-Flash")
COLD = account_address(PUBKEY_02)
WARM = "gonka1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqrk8pql"
OTHER = "gonka14rp74jncvltq6cv4pzepd6s6ns432yvl430s5n"
NOW = "2026-11-30T10:00:00.123456789Z"
NODE = "http://node2.gonka.ai:8000/chain-rpc/"
CHAIN_FLAGS = "--chain-id gonka-mainnet --node " + NODE + " -y --output json"
COLD_FLAGS = ("--from gonka-account-key --keyring-backend file --gas auto --gas-adjustment 1.3 "
              "--gas-prices 1ngonka " + CHAIN_FLAGS)

FRESH = {
    "ChainParams": {"error": None, "poc_models": [
        {"model_id": m, "penalty_start_epoch": 0} for m in (MINIMAX, DS, GLM)],
        "refusal_penalty": 0.1, "no_participation_penalty": 0.15, "base_weight_ratio": 0.2,
        "collateral_per_weight_unit": 4.2},
    "EpochWeights": {"error": None, "epoch_index": 400, "weights": {}},
    "Collateral": {"error": None, "ngonka": None},
    "PocRecords": {"error": None, "intents": [], "delegations": {}, "refusals": []},
    "Spendable": {"error": None, "ngonka": 0},
    "ChainStatus": {"error": None, "height": 6500000, "time": NOW},
    "FeeAllowance": {"error": None, "found": False, "spend_limit": None, "expiration": None},
    "AuthzGrants": {"error": None, "grants": {}},
}


def covered() -> dict:
    facts = copy.deepcopy(FRESH)
    facts["EpochWeights"]["weights"] = {COLD: 1000}
    facts["Collateral"]["ngonka"] = 6720
    facts["PocRecords"] = {"error": None, "intents": [MINIMAX], "delegations": {DS: OTHER},
                           "refusals": [GLM]}
    facts["Spendable"]["ngonka"] = 25_000_000_000
    facts["FeeAllowance"] = {"error": None, "found": True, "spend_limit": 9_000_000_000,
                             "expiration": "2027-11-30T10:00:00Z"}
    facts["AuthzGrants"]["grants"] = {pp.CLAIM_MSG: "2027-11-30T10:00:00Z",
                                      pp.INTENT_MSG: "2027-11-30T10:00:00Z"}
    return facts


def wanted(**changes) -> pp.Wanted:
    changes.setdefault("poc_participation", {DS: {"delegate": OTHER}, GLM: "refuse"})
    cfg = host_config(seed_api_url="http://node2.gonka.ai:8000",
                      seed_node_rpc_url=NODE, **changes)
    return pp.Wanted.of(pp.wanted(cfg))


def test_wanted_defaults_run_for_served_models_and_encodes_delegation():
    w = wanted(collateral="6720ngonka")
    assert w.choices == {MINIMAX: "run", DS: f"delegate:{OTHER}", GLM: "refuse"}
    assert (w.cold_address, w.collateral, w.chain_api) == (
        COLD, 6720, "http://node2.gonka.ai:8000/chain-api")
    assert w.cold_balance_min == 20_000_000_000 and w.fee_grant_min_days == 30


def test_a_covered_chain_needs_no_transaction():
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, covered()), WARM)
    assert planned.send == [] and planned.blocked == []


def test_each_missing_choice_is_one_transaction_with_the_least_privileged_key():
    facts = covered()
    facts["PocRecords"] = {"error": None, "intents": [], "delegations": {}, "refusals": []}
    facts["Collateral"]["ngonka"] = 3360
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, facts), WARM)
    assert [(t.kind, t.signer, t.model, t.ngonka) for t in planned.send] == [
        ("intent", "warm", MINIMAX, None), ("delegation", "cold", DS, None),
        ("refusal", "cold", GLM, None), ("collateral", "cold", None, 3360)]
    by_kind = {t.kind: " ".join(t.argv) for t in planned.send}
    assert by_kind["delegation"] == (f"inferenced tx inference set-poc-delegation {DS} {OTHER} "
                                     + COLD_FLAGS)
    assert by_kind["refusal"] == f"inferenced tx inference refuse-poc-delegation {GLM} " \
        + COLD_FLAGS
    # deposits add up on chain: only the difference to the target is sent
    assert by_kind["collateral"] == "inferenced tx collateral deposit-collateral 3360ngonka " \
        + COLD_FLAGS


def test_the_warm_intent_waits_for_what_it_needs_and_says_how_to_get_it():
    facts = covered()
    facts["PocRecords"]["intents"] = []
    facts["FeeAllowance"] = FRESH["FeeAllowance"]
    facts["Spendable"]["ngonka"] = 100
    facts["AuthzGrants"]["grants"] = {pp.CLAIM_MSG: None}
    planned = pp.plan(wanted(), pp.View(True, facts), WARM)
    assert planned.send == []
    (why,) = planned.blocked
    assert why.startswith(f"intent for {MINIMAX} not sent: ")
    assert f"no authz grant for {pp.INTENT_MSG} (run the grant: inferenced tx authz grant " \
        f"{WARM} generic --msg-type={pp.INTENT_MSG} --from gonka-account-key" in why
    assert "no cold->warm fee grant (run the grant: inferenced tx inference " \
        f"grant-ml-ops-permissions gonka-account-key {WARM}" in why
    assert f"the cold account {COLD} holds 100ngonka spendable, the fee is 300000ngonka" in why


def test_nothing_is_sent_before_the_registration_or_for_a_model_the_chain_has_no_poc_for():
    facts = copy.deepcopy(FRESH)
    facts["ChainParams"]["poc_models"] = facts["ChainParams"]["poc_models"][:2]
    planned = pp.plan(wanted(collateral="1 GNK"), pp.View(False, facts), None)
    assert planned.send == []
    assert planned.notes == [f"{GLM} is not a PoC model on chain (poc_params.models): nothing "
                             "to send for it"]
    assert planned.blocked == [
        f"intent for {MINIMAX} not sent: the participant is not registered yet",
        f"delegation to {OTHER} for {DS} waits for the registration",
        "collateral deposit of 1000000000ngonka waits for the registration"]


def test_a_freshly_registered_host_gets_a_warning_with_its_fix_for_each_missing_item():
    items = {i.name: i for i in pp.assess(wanted(), pp.View(True, copy.deepcopy(FRESH)), WARM)}
    assert list(items) == [f"poc {MINIMAX}", f"poc {DS}", f"poc {GLM}", "collateral",
                           "fee_grant", "cold_balance", "epoch_weight"]
    assert all(i.ok is None for i in items.values())
    glm = items[f"poc {GLM}"]
    assert glm.detail == ("chain holds nothing, the inventory wants refusal (nothing costs 15 % "
                          "of weight per epoch)")
    assert glm.fix == [f"inferenced tx inference refuse-poc-delegation {GLM} " + COLD_FLAGS]
    assert items[f"poc {MINIMAX}"].fix[-1] == (f"inferenced tx inference declare-poc-intent "
                                               f"{MINIMAX} " + COLD_FLAGS)
    assert items["fee_grant"].fix == [
        f"inferenced tx inference grant-ml-ops-permissions gonka-account-key {WARM} --from "
        "gonka-account-key --keyring-backend file --gas 2000000 --gas-prices 1ngonka --node "
        "http://node2.gonka.ai:8000/chain-rpc/"]
    assert "none deposited" in items["collateral"].detail
    assert "only the base weight (20 %) counts" in items["collateral"].detail
    assert items["cold_balance"].fix == [
        f"inferenced tx bank send '<FUNDING_KEY>' {COLD} 20000000000ngonka --gas-prices 1ngonka "
        "--chain-id gonka-mainnet --node " + NODE + " -y"]
    assert items["epoch_weight"].detail.startswith("weight 0 in epoch 400")


def test_the_collateral_fix_deposits_the_minimum_for_the_weight_without_a_target():
    facts = covered()
    facts["Collateral"]["ngonka"] = None
    (item,) = [i for i in pp.assess(wanted(), pp.View(True, facts), WARM)
               if i.name == "collateral"]
    # 1000 x (1 - 0.2) x 4.2 (gonka-ai/gonka-docs@570482bc:docs/host/collateral.md)
    assert "the minimum for weight 1000 is 3360ngonka" in item.detail
    assert item.fix == ["inferenced tx collateral deposit-collateral 3360ngonka " + COLD_FLAGS]


def test_a_covered_host_is_green_and_a_refusal_names_its_cost():
    items = pp.assess(wanted(collateral="6720ngonka"), pp.View(True, covered()), WARM)
    assert [i.ok for i in items] == [True] * 7, items
    details = {i.name: i.detail for i in items}
    assert details[f"poc {GLM}"] == "refusal on chain (10 % of weight per epoch)"
    assert details[f"poc {DS}"] == f"delegation to {OTHER} on chain"
    assert details["fee_grant"] == ("fee grant 9 GNK left, until 2027-11-30T10:00:00Z; authz "
                                    "grants in place")
    assert details["epoch_weight"] == "weight 1000 in epoch 400"


def test_a_fee_grant_that_expires_soon_is_renewed_by_revoking_it_first():
    facts = covered()
    facts["FeeAllowance"]["expiration"] = "2026-12-10T10:00:00Z"   # 10 days after NOW
    (item,) = [i for i in pp.assess(wanted(), pp.View(True, facts), WARM) if i.name == "fee_grant"]
    assert item.ok is None
    assert item.detail.startswith("the fee grant expires in 10 day(s) (2026-12-10T10:00:00Z; "
                                  "at least 30 wanted)")
    assert item.fix[0] == (f"inferenced tx feegrant revoke {COLD} {WARM} " + COLD_FLAGS)
    assert "grant-ml-ops-permissions" in item.fix[1]


def test_a_chain_poc_model_the_inventory_has_no_choice_for_is_a_warning():
    facts = covered()
    facts["ChainParams"]["poc_models"].append({"model_id": "new/Model", "penalty_start_epoch": 9})
    (item,) = [i for i in pp.assess(wanted(), pp.View(True, facts), WARM)
               if i.name == "poc new/Model"]
    assert item.ok is None and "no choice in the inventory" in item.detail


def test_a_config_dumped_and_validated_again_keeps_its_amounts_and_choices():
    from gonka_deploy.schema import HostConfig

    cfg = host_config(collateral="0.5 GNK", cold_balance_min="1 GNK",
                      poc_participation={DS: {"delegate": OTHER}, GLM: "refuse"})
    assert (cfg.collateral, cfg.collateral_ngonka) == ("500000000ngonka", 500_000_000)
    again = HostConfig.model_validate(cfg.model_dump())   # as roles/upgrade.py does
    assert again == cfg and again.cold_balance_min_ngonka == 1_000_000_000


def test_amounts_take_ngonka_or_gnk_and_show_gnk():
    from gonka_deploy.units import gnk, parse_ngonka

    assert [parse_ngonka(v) for v in ("3360ngonka", "3360 ngonka", "5 GNK", "0.5GNK",
                                      "1_000ngonka", "2 gnk")] == [
        3360, 3360, 5_000_000_000, 500_000_000, 1000, 2_000_000_000]
    for bad, why in (("0ngonka", "more than 0"), ("5", "not an amount"),
                     ("1.5ngonka", "whole number"), ("5 atom", "neither")):
        try:
            parse_ngonka(bad)
        except ValueError as exc:
            assert why in str(exc), exc
        else:
            raise AssertionError(f"{bad!r} was accepted")
    assert (gnk(12_500_000_000), gnk(300_000), gnk(0)) == ("12.5 GNK", "0.0003 GNK", "0 GNK")


# --- recorded sends: never twice (issue 20, item 2) -------------------------------------------

def deposit(status: str, expect: int | None, txhash: str | None = "D1", amount: str = "3360ngonka"
            ) -> dict:
    return {"kind": "collateral", "signer": "cold", "model": None, "amount": amount,
            "command": ["inferenced"], "txhash": txhash, "status": status, "detail": "",
            "at": "2026-11-30T09:00:00+00:00", "id": None, "expect_ngonka": expect}


def test_no_deposit_is_planned_while_one_recorded_is_not_shown_by_the_chain():
    facts = covered()
    facts["Collateral"]["ngonka"] = 3360
    w = wanted(collateral="6720ngonka")
    for status in ("sent", "failed"):
        planned = pp.plan(w, pp.View(True, facts), WARM, [deposit(status, 6720)])
        assert [t.kind for t in planned.send] == [], status
        assert "D1" in planned.stop[0] and "not sending another" in planned.stop[0]
        assert "deposit-collateral 3360ngonka" in planned.stop[0]  # the fix, by hand


def test_a_recorded_deposit_the_chain_shows_lets_the_next_one_be_planned():
    facts = covered()
    facts["Collateral"]["ngonka"] = 3360
    w = wanted(collateral="6720ngonka")
    for record in (deposit("sent", 3360), deposit("confirmed", 3360),
                   deposit("sent", None, amount="3360ngonka"), deposit("rejected", 6720)):
        planned = pp.plan(w, pp.View(True, facts), WARM, [record])
        assert planned.stop == [], record
        assert [(t.kind, t.ngonka) for t in planned.send] == [("collateral", 3360)]


def test_a_covered_collateral_plans_nothing_whatever_is_recorded():
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, covered()), WARM,
                      [deposit("sent", 99_999)])
    assert planned.send == [] and planned.stop == []


def test_an_unresolved_send_for_one_model_stops_only_that_model():
    facts = covered()
    facts["PocRecords"] = {"error": None, "intents": [], "delegations": {}, "refusals": []}
    argv = pp.cold_argv(wanted(), DS, f"delegate:{OTHER}")
    pending = {"kind": "delegation", "signer": "cold", "model": DS, "amount": None,
               "command": argv, "txhash": "G1", "status": "sent", "detail": "",
               "at": "2026-11-30T09:00:00+00:00"}
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, facts), WARM, [pending])
    assert [(t.kind, t.model) for t in planned.send] == [("intent", MINIMAX),
                                                         ("refusal", GLM)]
    assert len(planned.stop) == 1 and DS in planned.stop[0] and "G1" in planned.stop[0]
    # once the chain shows it, nothing stops and nothing is sent for it
    facts["PocRecords"]["delegations"] = {DS: OTHER}
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, facts), WARM, [pending])
    assert planned.stop == [] and DS not in [t.model for t in planned.send]


def test_only_the_latest_send_of_a_model_counts():
    facts = covered()
    facts["PocRecords"] = {"error": None, "intents": [MINIMAX], "delegations": {DS: OTHER},
                           "refusals": []}
    old = {"kind": "intent", "signer": "warm", "model": GLM, "command": [], "txhash": "I0",
           "status": "sent", "detail": "", "at": "2026-11-01T09:00:00+00:00"}
    new = {**old, "kind": "refusal", "signer": "cold", "txhash": "R1", "status": "rejected"}
    planned = pp.plan(wanted(collateral="6720ngonka"), pp.View(True, facts), WARM, [old, new])
    assert planned.stop == [] and [(t.kind, t.model) for t in planned.send] == [
        ("refusal", GLM)]
