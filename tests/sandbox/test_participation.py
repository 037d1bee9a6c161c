"""After registration: PoC participation per model, collateral and fees, for real, over SSH.

One module-scoped scenario on a sandbox host whose seed simulates the v0.2.16 chain (fee groups
at 1 ngonka/gas, PoC records, penalties): a freshly registered host is told each uncovered PoC
model, the missing collateral and fee grant, each with its exact command; the printed grant is
accepted and the old fee-less one rejected; an apply with `poc_participation` set declares the
intent with the warm key (authz exec in the api container) and sends the cold key's
transactions from the operator's keyring (opted in); the next epoch shows the weight; the
verification is green; applying again sends nothing; no secret shows anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import subprocess
import sys

import pytest
from gonkasim import address, common

from gonka_deploy.state import NodeState
from tests.conftest import REPO
from tests.leaks import leaks, local_files

pytestmark = pytest.mark.sandbox
DEPLOY = REPO / "deploys" / "node.py"
PASSWORD = "e2e-Poc-keyring 'pass' $word\\42"
KIMI, MINIMAX = "moonshotai/Kimi-K2.6", "MiniMaxAI/MiniMax-M2.7"
JOIN = "/mnt/ssd/gonka/deploy/join"


def pubkey(mnemonic: str) -> str:
    """The stand-in's key derivation: 0x02 || sha256(mnemonic)."""
    return base64.b64encode(b"\x02" + hashlib.sha256(mnemonic.encode()).digest()).decode()


@pytest.fixture(scope="module")
def scenario(fleet, sandbox_network, tmp_path_factory):
    (host,) = fleet.add(1, prefix="poc")
    state_dir = tmp_path_factory.mktemp("nodes")
    group = sandbox_network["group_data"]
    seed, model = group["seed_api_url"], sandbox_network["model"]
    mnemonic = f"cold key of {host.name} {os.getpid()}"
    cold = address.address_from_b64(pubkey(mnemonic))
    # another participant of the network, to delegate a model to
    other_pub = pubkey(f"another host {host.name} {os.getpid()}")
    code, _ = common.http("POST", f"{seed}/v1/participants",
                          {"url": "http://203.0.113.77:8000", "pub_key": other_pub})
    assert code == 200
    catalog = {**group["model_catalog_extra"]}
    catalog[model] = {**catalog[model], "poc": True}   # the sim's chain runs PoC on it
    data = {**host.ssh_data("ubuntu"), **group, "key_name": f"e2e-{host.name}",
            "public_host": host.address, "account_pubkey": pubkey(mnemonic),
            "data_disk": "/dev/vdb", "gpu": {"model": "H100", "count": 1, "vram_gb": 80},
            "mlnodes": [{"id": "node1", "models": [model]}], "model_catalog_extra": catalog,
            "cold_keyring_backend": "test"}
    inventory = tmp_path_factory.mktemp("inv") / "poc.py"
    env = dict(os.environ, GONKA_STATE_DIR=str(state_dir),
               GONKA_SECRETS_DIR=str(state_dir / "no-secrets"),
               GONKASIM_LOG_DIR=str(state_dir / "operator-cli"),
               INFERENCED_HOME=str(state_dir / "operator-keyring"),
               PATH=f"{REPO / 'sandbox' / 'shims'}{os.pathsep}{os.environ['PATH']}")
    env["GONKA_KEYRING_PASSWORD_E2E_" + host.name.upper().replace("-", "_")] = PASSWORD
    env.pop("GONKA_KEYRING_PASSWORD", None)
    # The operator's machine holds the cold key (a test keyring: no passphrase to type).
    added = subprocess.run(["inferenced", "keys", "add", "gonka-account-key", "--recover",
                            "--keyring-backend", "test", "--output", "json"],
                           input=mnemonic + "\n", text=True, capture_output=True, env=env,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["address"] == cold
    ctx = {"host": host, "inventory": inventory, "data": data, "env": env, "state": state_dir,
           "seed": seed, "model": model, "cold": cold,
           "other": address.address_from_b64(other_pub), "outputs": {},
           "node": NodeState(f"e2e-{host.name}", root=state_dir),
           "ledger": fleet.dir / "seed-state" / "ledger.json"}
    write_inventory(ctx)
    yield ctx
    fleet.remove([host])


def write_inventory(ctx, **changes) -> None:
    ctx["data"].update(changes)
    ctx["inventory"].write_text(f"poc_hosts = {[(ctx['host'].name, ctx['data'])]!r}\n")


def pyinfra(ctx, *args, timeout=900) -> tuple[int, str]:
    argv = [sys.executable, "-m", "pyinfra", str(ctx["inventory"]), str(DEPLOY), *args]
    p = subprocess.run(argv, cwd=REPO, env=ctx["env"], capture_output=True, text=True,
                       timeout=timeout)
    runs = ctx["state"] / "runs.log"     # every run's output, for a failure's post-mortem
    with runs.open("a") as f:
        f.write(f"==== pyinfra {' '.join(args)} rc={p.returncode}\n{p.stdout}{p.stderr}\n")
    return p.returncode, p.stdout + p.stderr


def rest(ctx, path: str) -> dict:
    code, doc = common.http("GET", f"{ctx['seed']}/chain-api{path}", timeout=10)
    assert code == 200, (path, code, doc)
    return doc


def ledger_txs(ctx) -> dict:
    """Every transaction the seed's chain took (CheckTx passed), by hash."""
    path = ctx["ledger"]
    return json.loads(path.read_text())["txs"] if path.exists() else {}


def api_calls(host) -> list[list[str]]:
    text = host.run(f"cat {JOIN}/.inference/.gonkasim/inferenced.log 2>/dev/null", check=False)
    return [json.loads(line).get("argv", []) for line in text.splitlines() if line.strip()]


def operator_calls(ctx) -> list[list[str]]:
    path = ctx["state"] / "operator-cli" / "inferenced.log"
    text = path.read_text() if path.exists() else ""
    return [json.loads(line)["argv"] for line in text.splitlines() if line.strip()]


def test_a_freshly_registered_host_is_told_each_missing_item_with_its_command(scenario):
    ctx = scenario
    rc, out = pyinfra(ctx, "-y", "-vv")
    ctx["outputs"]["first apply"] = out
    assert rc == 0, out[-5000:]
    node = ctx["node"]
    warm = node.warm_address()
    checks = {c.name: c for c in node.participation().checks}
    model, cold = ctx["model"], ctx["cold"]
    assert list(checks) == [f"poc {KIMI}", f"poc {MINIMAX}", f"poc {model}", "collateral",
                            "fee_grant", "cold_balance", "epoch_weight"]
    assert all(c.ok is None for c in checks.values()), checks
    chain = ("--chain-id gonka-mainnet --node " + ctx["data"]["seed_node_rpc_url"]
             + " -y --output json")
    cold_flags = ("--from gonka-account-key --keyring-backend test --gas auto --gas-adjustment "
                  "1.3 --gas-prices 1ngonka " + chain)
    for refused in (KIMI, MINIMAX):   # the sandbox's group data refuses them
        assert checks[f"poc {refused}"].fix == [
            f"inferenced tx inference refuse-poc-delegation {refused} {cold_flags}"]
    assert checks[f"poc {model}"].fix[-1] == (f"inferenced tx inference declare-poc-intent "
                                              f"{model} {cold_flags}")
    grant = (f"inferenced tx inference grant-ml-ops-permissions gonka-account-key {warm} "
             f"--from gonka-account-key --keyring-backend test --gas 2000000 --gas-prices "
             f"1ngonka --node {ctx['seed']}/chain-rpc/")
    assert checks["fee_grant"].fix == [grant]
    assert checks["collateral"].detail.startswith("none deposited")
    assert checks["cold_balance"].detail.startswith(f"0 GNK spendable on {cold}")
    # the report says it all, each fix under its item
    report = node.report()
    for line in (f"  WARN  poc {model}: chain holds nothing, the inventory wants intent (run)",
                 f"        {grant}", "  WARN  collateral: none deposited",
                 f"        inferenced tx inference refuse-poc-delegation {KIMI} {cold_flags}"):
        assert line in report, report
    # the warm key could not declare its intent: it says why, and sent nothing
    assert f"intent for {model} not sent: " in out and "no cold->warm fee grant" in out
    assert not any("exec" in argv for argv in api_calls(ctx["host"]))
    weights = common.http("POST", f"{ctx['seed']}/sim/next-epoch")[1]["weights"]
    # nothing for 3 PoC models (2 refused are not on chain yet), no collateral
    assert weights[cold] == round(1000 * 0.2 * 0.85 ** 3)
    ctx["weight before"] = weights[cold]


def test_the_printed_grant_is_accepted_and_the_old_fee_less_form_rejected(scenario):
    ctx = scenario
    warm, cold = ctx["node"].warm_address(), ctx["cold"]
    code, _ = common.http("POST", f"{ctx['seed']}/sim/fund",
                          {"address": cold, "ngonka": 30_000_000_000})
    assert code == 200
    (grant,) = [c for c in ctx["node"].participation().checks if c.name == "fee_grant"]
    argv = shlex.split(grant.fix[0])
    old = [a for a in argv if a not in ("--gas-prices", "1ngonka")]
    rejected = subprocess.run(old, env=ctx["env"], capture_output=True, text=True, timeout=120)
    assert rejected.returncode == 1
    assert ("Error: transaction failed on broadcast with code 13: insufficient fee: got , "
            "required at least 2000000ngonka (gas=2000000, min_gas_price=1ngonka): "
            "insufficient fee") in rejected.stderr
    accepted = subprocess.run(argv, env=ctx["env"], capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Transaction confirmed successfully!" in accepted.stdout
    allowance = rest(ctx, f"/cosmos/feegrant/v1beta1/allowance/{cold}/{warm}")
    assert allowance["allowance"]["grantee"] == warm


def test_an_apply_with_choices_declares_the_intent_with_the_warm_key(scenario):
    ctx = scenario
    model, cold, other = ctx["model"], ctx["cold"], ctx["other"]
    write_inventory(ctx, poc_participation={KIMI: {"delegate": other}, MINIMAX: "refuse"},
                    collateral="3360ngonka", cold_txs_from_local_keyring=True)
    before = len(ledger_txs(ctx))
    rc, dry = pyinfra(ctx, "--dry")
    ctx["outputs"]["dry run"] = dry
    assert rc == 0, dry[-5000:]
    assert f"would declare intent for {model} with the warm key" in dry
    assert (f"cold key: delegation {KIMI} from this machine's keyring: inferenced tx inference "
            f"set-poc-delegation {KIMI} {other}") in dry
    assert "cold key: collateral 3360ngonka from this machine's keyring: inferenced tx " \
        "collateral deposit-collateral 3360ngonka" in dry
    assert len(ledger_txs(ctx)) == before, "a dry run sent a transaction"

    rc, out = pyinfra(ctx, "-y", "-vv")
    ctx["outputs"]["apply with choices"] = out
    assert rc == 0, out[-5000:]
    records = rest(ctx, f"/productscience/inference/inference/poc_delegation/{cold}")
    assert records == {"intents": [{"model_id": model, "participant": cold}],
                       "delegations": [{"model_id": KIMI, "delegator": cold,
                                        "delegate_to": other}],
                       "refusals": [{"model_id": MINIMAX, "participant": cold}]}, out[-8000:]
    assert rest(ctx, f"/productscience/inference/collateral/collateral/{cold}") == {
        "amount": {"denom": "ngonka", "amount": "3360"}}
    # the intent: the warm key, in the api container, through authz exec, fee from the cold
    execs = [a for a in api_calls(ctx["host"]) if a[:3] == ["tx", "authz", "exec"]]
    assert len(execs) == 1, execs
    assert execs[0][execs[0].index("--fee-granter") + 1] == cold
    assert execs[0][execs[0].index("--from") + 1] == ctx["data"]["key_name"]
    sent = {(s.kind, s.signer): s for s in ctx["node"].participation().sent}
    assert set(sent) == {("intent", "warm"), ("delegation", "cold"), ("refusal", "cold"),
                         ("collateral", "cold")}
    assert all(s.status == "confirmed" for s in sent.values()), sent
    txs = ledger_txs(ctx)
    intent = txs[sent[("intent", "warm")].txhash]
    assert intent["code"] == 0
    (message,) = intent["tx"]["body"]["messages"]
    assert message["@type"] == "/cosmos.authz.v1beta1.MsgExec"
    assert message["msgs"] == [{"@type": "/inference.inference.MsgDeclarePoCIntent",
                                "sender": cold, "model_id": model}]
    assert intent["tx"]["auth_info"]["fee"]["granter"] == cold


def test_the_next_epoch_gives_weight_and_the_verification_is_green(scenario):
    ctx = scenario
    weights = common.http("POST", f"{ctx['seed']}/sim/next-epoch")[1]["weights"]
    # full collateral; one refusal (10 %); the intent and the delegation cost nothing
    assert weights[ctx["cold"]] == 900 > ctx["weight before"]
    rc, out = pyinfra(ctx, "-y")
    ctx["outputs"]["verifying apply"] = out
    assert rc == 0, out[-5000:]
    checks = ctx["node"].participation().checks
    assert [c.ok for c in checks] == [True] * 7, checks
    details = {c.name: c.detail for c in checks}
    assert details["epoch_weight"].startswith("weight 900 in epoch ")
    assert details[f"poc {MINIMAX}"] == "refusal on chain (10 % of weight per epoch)"
    report = ctx["node"].report()
    assert "7 of 7 ok, 0 warning(s)" in report
    assert f"  sent: intent {ctx['model']} (warm key) tx " in report


def test_applying_again_sends_nothing_and_no_secret_shows(scenario):
    ctx = scenario
    before, api_before = len(ledger_txs(ctx)), len(api_calls(ctx["host"]))
    operator_before = len(operator_calls(ctx))
    rc, out = pyinfra(ctx, "-y", "-vvv", "--diff")
    ctx["outputs"]["re-apply"] = out
    assert rc == 0, out[-5000:]
    assert len(ledger_txs(ctx)) == before
    assert [a for a in api_calls(ctx["host"])[api_before:] if a[:1] == ["tx"]] == []
    assert operator_calls(ctx)[operator_before:] == []
    assert "the chain holds the host's PoC choices and collateral" in out
    # every output, every local file, every argv the CLIs saw (api container and operator's)
    texts = {**{f"output of {k}": v for k, v in ctx["outputs"].items()},
             **local_files(ctx["state"]),
             "api inferenced argv": json.dumps(api_calls(ctx["host"])),
             "seed ledger": ctx["ledger"].read_text()}
    assert leaks(texts, {"keyring password": PASSWORD}) == []


def test_a_local_key_of_another_account_sends_nothing_and_names_both(scenario):
    # issue 20, item 2: a larger collateral target, but `cold_key_name` names a key of another
    # account in the operator's keyring: the host fails naming both addresses, nothing is sent
    ctx = scenario
    added = subprocess.run(["inferenced", "keys", "add", "someone-else", "--keyring-backend",
                            "test", "--output", "json"], input="\n", text=True,
                           capture_output=True, env=ctx["env"], timeout=60)
    assert added.returncode == 0, added.stderr
    other = json.loads(added.stdout)["address"]
    write_inventory(ctx, collateral="6720ngonka", cold_key_name="someone-else")
    before, operator_before = len(ledger_txs(ctx)), len(operator_calls(ctx))
    recorded = ctx["node"].participation().sent
    try:
        rc, out = pyinfra(ctx, "-y")
    finally:
        write_inventory(ctx, collateral="3360ngonka", cold_key_name="gonka-account-key")
    assert rc != 0, out[-5000:]
    assert (f"the local key 'someone-else' is {other}, but the host's cold account (its "
            f"account_pubkey) is {ctx['cold']}: nothing sent") in out, out[-5000:]
    assert len(ledger_txs(ctx)) == before
    assert [c[:2] for c in operator_calls(ctx)[operator_before:]] == [["keys", "show"]]
    assert ctx["node"].participation().sent == recorded
