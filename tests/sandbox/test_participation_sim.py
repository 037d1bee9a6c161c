"""The seed's chain state for PoC participation, collateral and fees, driven through the
`inferenced` stand-in over its chain RPC, on loopback: real message shapes and texts, fees checked,
penalties applied at the end of an epoch."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
from gonkasim import address, testing

INFERENCED = os.path.join(testing.SHIMS, "inferenced")
TINY = "testorg/tiny-model"
KIMI, MINIMAX = "moonshotai/Kimi-K2.6", "MiniMaxAI/MiniMax-M2.7"
CHAIN = "gonka-mainnet"


@pytest.fixture
def chain(tmp_path):
    settings = tmp_path / "sim.json"
    settings.write_text(json.dumps({"block_seconds": 0.1}))
    env = {"GONKASIM_SETTINGS": str(settings), "GONKASIM_LOG_DIR": str(tmp_path / "log")}
    seed = testing.SimProcess("seed", str(tmp_path), ["http"],
                              ["--state", str(tmp_path / "seed")], env).start()

    class Chain:
        path = tmp_path
        url = seed.url("http")
        node = seed.url("http") + "/chain-rpc/"
        api = seed.url("http") + "/chain-api"

        def cli(self, *args, stdin="", home="cold"):
            full = testing.sim_env({**env, "INFERENCED_HOME": str(tmp_path / home)})
            return subprocess.run([sys.executable, INFERENCED, *args], input=stdin, text=True,
                                  capture_output=True, env=full, timeout=60)

        def rest(self, path):
            return seed.get("http", "/chain-api" + path)

        def seed_api(self, path):
            return seed.get("http", path)

        def account(self, mnemonic, name="gonka-account-key", home="cold", register=True):
            """A key recovered from ``mnemonic`` in a test keyring; registered as a participant
            (its pubkey is 0x02 || sha256(mnemonic), as the stand-in derives it)."""
            r = self.cli("keys", "add", name, "--recover", "--keyring-backend", "test",
                         "--output", "json", stdin=mnemonic + "\n", home=home)
            assert r.returncode == 0, r.stderr
            pub = base64.b64encode(b"\x02" + hashlib.sha256(mnemonic.encode()).digest()).decode()
            addr = address.address_from_b64(pub)
            assert json.loads(r.stdout)["address"] == addr
            if register:
                code, _ = seed.post("http", "/v1/participants",
                                    {"url": f"http://{name}.example:8000", "pub_key": pub})
                assert code == 200
            return addr

        def fund(self, addr, ngonka):
            assert seed.post("http", "/sim/fund", {"address": addr, "ngonka": ngonka})[0] == 200

        def next_epoch(self):
            code, doc = seed.post("http", "/sim/next-epoch")
            assert code == 200
            return doc["weights"]

        def tx(self, *args, home="cold", stdin=""):
            r = self.cli("tx", *args, "--keyring-backend", "test", "--chain-id", CHAIN,
                         "--node", self.node, "-y", "--output", "json", home=home, stdin=stdin)
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout.strip().splitlines()[-1])

        def committed(self, txhash):
            code, doc = self.rest(f"/cosmos/tx/v1beta1/txs/{txhash}")
            assert code == 200, doc
            return doc["tx_response"]

    yield Chain()
    seed.stop()


FEES = ["--gas-prices", "1ngonka"]


def test_a_transaction_without_its_fee_is_rejected_with_gonkas_own_text(chain):
    cold = chain.account("cold one")
    chain.fund(cold, 10_000_000_000)
    result = chain.tx("inference", "refuse-poc-delegation", KIMI, "--from", "gonka-account-key",
                      "--gas", "200000")
    assert (result["code"], result["codespace"]) == (13, "sdk")
    assert result["raw_log"] == ("insufficient fee: got , required at least 200000ngonka "
                                 "(gas=200000, min_gas_price=1ngonka): insufficient fee")
    assert set(result) == {"height", "txhash", "codespace", "code", "data", "raw_log", "logs",
                           "info", "gas_wanted", "gas_used", "tx", "timestamp", "events"}
    # rejected at CheckTx: nothing on chain, no fee taken
    assert chain.rest(f"/cosmos/tx/v1beta1/txs/{result['txhash']}")[0] == 404
    assert chain.rest(f"/cosmos/bank/v1beta1/spendable_balances/{cold}")[1]["balances"] == [
        {"denom": "ngonka", "amount": "10000000000"}]
    paid = chain.tx("inference", "refuse-poc-delegation", KIMI, "--from", "gonka-account-key",
                    "--gas", "200000", *FEES)
    assert paid["code"] == 0 and chain.committed(paid["txhash"])["code"] == 0
    assert chain.rest(f"/productscience/inference/inference/poc_delegation/{cold}")[1] == {
        "delegations": [], "refusals": [{"model_id": KIMI, "participant": cold}], "intents": []}


def test_the_printed_grant_is_accepted_and_the_old_fee_less_form_is_rejected(chain):
    from gonka_deploy.txs import grant_argv

    cold = chain.account("cold two")
    warm = chain.account("warm two", name="warm", home="warm", register=False)
    chain.fund(cold, 5_000_000_000)
    old = chain.cli("tx", "inference", "grant-ml-ops-permissions", "gonka-account-key", warm,
                    "--from", "gonka-account-key", "--keyring-backend", "test", "--gas",
                    "2000000", "--node", chain.node)
    assert old.returncode == 1
    assert "Error: transaction failed on broadcast with code 13: insufficient fee: got , " \
        "required at least 2000000ngonka (gas=2000000, min_gas_price=1ngonka): " \
        "insufficient fee" in old.stderr
    argv = grant_argv(warm, chain.url, keyring_backend="test")
    new = chain.cli(*argv[1:])
    assert new.returncode == 0, new.stderr
    assert new.stdout.startswith("Detected chain-id: gonka-mainnet\nIncluding new feegrant "
                                 "allowance from cold to warm in this transaction.\n"
                                 "Transaction sent with hash: ")
    assert "Transaction confirmed successfully!" in new.stdout
    allowance = chain.rest(f"/cosmos/feegrant/v1beta1/allowance/{cold}/{warm}")[1]
    assert allowance["allowance"]["allowance"]["spend_limit"] == [
        {"denom": "ngonka", "amount": "10000000000"}]
    grants = chain.rest(f"/cosmos/authz/v1beta1/grants?granter={cold}&grantee={warm}")[1]
    msgs = {g["authorization"]["msg"] for g in grants["grants"]}
    assert {"/inference.inference.MsgClaimRewards",
            "/inference.inference.MsgDeclarePoCIntent"} <= msgs
    # the fee came out of the cold account: 2000000 gas x 1 ngonka
    assert chain.rest(f"/cosmos/bank/v1beta1/spendable_balances/{cold}")[1]["balances"] == [
        {"denom": "ngonka", "amount": str(5_000_000_000 - 2_000_000)}]
    again = chain.cli(*argv[1:])
    assert again.returncode == 0 and "Existing feegrant allowance from cold to warm detected; " \
        "skipping MsgGrantAllowance." in again.stdout


def test_the_warm_key_declares_intent_through_authz_exec_paid_by_the_cold_fee_grant(chain):
    from gonka_deploy.txs import authz_exec_argv, grant_argv, intent_generate_argv

    cold = chain.account("cold three")
    warm = chain.account("warm three", name="warm", home="warm", register=False)
    generated = chain.cli(*intent_generate_argv(TINY, cold)[1:], home="warm")
    assert generated.returncode == 0, generated.stderr
    unsigned = json.loads(generated.stdout)
    assert unsigned["body"]["messages"] == [
        {"@type": "/inference.inference.MsgDeclarePoCIntent", "sender": cold, "model_id": TINY}]
    file = chain.path / "intent.json"
    file.write_text(generated.stdout)
    exec_argv = authz_exec_argv(str(file), "warm", cold, CHAIN, chain.node)
    exec_argv[exec_argv.index("--keyring-backend") + 1] = "test"
    # no grant yet: the fee grant is missing, nothing reaches the chain
    refused = json.loads(chain.cli(*exec_argv[1:], home="warm").stdout)
    assert refused["code"] == 38 and "fee-grant not found" in refused["raw_log"]
    chain.fund(cold, 1_000_000_000)
    assert chain.cli(*grant_argv(warm, chain.url, keyring_backend="test")[1:]).returncode == 0
    sent = json.loads(chain.cli(*exec_argv[1:], home="warm").stdout)
    assert sent["code"] == 0
    committed = chain.committed(sent["txhash"])
    assert committed["code"] == 0, committed
    records = chain.rest(f"/productscience/inference/inference/poc_delegation/{cold}")[1]
    assert records["intents"] == [{"model_id": TINY, "participant": cold}]
    allowance = chain.rest(f"/cosmos/feegrant/v1beta1/allowance/{cold}/{warm}")[1]
    assert allowance["allowance"]["allowance"]["spend_limit"][0]["amount"] == \
        str(10_000_000_000 - 300_000)
    # the warm key itself is no participant: a direct intent fails in the block
    direct = chain.tx("inference", "declare-poc-intent", TINY, "--from", "warm", "--gas",
                      "300000", "--fee-granter", cold, *FEES, home="warm")
    assert direct["code"] == 0
    assert chain.committed(direct["txhash"])["raw_log"] == (
        "failed to execute message; message index: 0: participant not found")


def test_penalties_per_epoch_and_per_model_and_collateral_move_the_weight(chain):
    cold = chain.account("cold four")
    other = chain.account("cold five", name="other", home="other")
    chain.fund(cold, 10_000_000_000)
    assert chain.rest("/productscience/inference/inference/params")[1]["params"][
        "delegation_params"] == {"refusal_penalty": {"value": "1", "exponent": -1},
                                 "no_participation_penalty": {"value": "15", "exponent": -2}}
    # nothing for 3 PoC models, no collateral: 20 % base x 0.85^3
    assert chain.next_epoch()[cold] == round(1000 * 0.2 * 0.85 ** 3)
    required = int(1000 * 0.8 * 4.2)
    deposit = chain.tx("collateral", "deposit-collateral", f"{required}ngonka", "--from",
                       "gonka-account-key", "--gas", "auto", "--gas-adjustment", "1.3", *FEES)
    assert deposit["code"] == 0 and chain.committed(deposit["txhash"])["code"] == 0
    assert chain.rest(f"/productscience/inference/collateral/collateral/{cold}")[1] == {
        "amount": {"denom": "ngonka", "amount": str(required)}}
    assert chain.next_epoch()[cold] == round(1000 * 0.85 ** 3)
    for args in (("declare-poc-intent", TINY), ("set-poc-delegation", MINIMAX, other),
                 ("refuse-poc-delegation", KIMI)):
        sent = chain.tx("inference", *args, "--from", "gonka-account-key", "--gas", "200000",
                        *FEES)
        assert chain.committed(sent["txhash"])["code"] == 0
    weights = chain.next_epoch()
    assert weights[cold] == round(1000 * 0.9)
    group = chain.rest("/productscience/inference/inference/current_epoch_group_data")[1]
    assert {"member_address": cold, "weight": "900", "reputation": 100} in \
        group["epoch_group_data"]["validation_weights"]
    assert chain.seed_api(f"/v2/participants/{cold}")[1]["participant"]["weight"] == 900
    missing = chain.rest(f"/productscience/inference/collateral/collateral/{other}")
    assert missing == (404, {"code": 5, "message": f"collateral not found for participant "
                                                   f"{other}", "details": []})
    self_delegation = chain.tx("inference", "set-poc-delegation", TINY, cold, "--from",
                               "gonka-account-key", "--gas", "200000", *FEES)
    assert (self_delegation["code"], self_delegation["raw_log"]) == (
        1175, "sender cannot delegate to self")
