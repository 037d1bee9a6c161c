"""The function commands that send transactions and act with keys (the fixture harness never runs
them): each is called directly, the host's shell, the chain's REST and this machine's CLI faked.
Never twice: a send whose fate is unknown is confirmed by its hash or stops the host; the cold
key signs only as the host's own account, one host at a time."""

from __future__ import annotations

import json
import shlex
import subprocess
from types import SimpleNamespace
from unittest.mock import MagicMock

import gevent
import pytest
from pydantic import SecretStr
from pyinfra.context import ctx_host, ctx_state

from gonka_deploy import participation as pp, txs
from gonka_deploy.facts.gonka import HTTP_SCRIPT
from gonka_deploy.operations import coldkey, keys, participation as op
from gonka_deploy.state import NodeState, SentTx

COLD = "gonka1uqdsdwwuujcrk95ur6wf6kwhjpajkmjmg8r070"
WRONG = "gonka14rp74jncvltq6cv4pzepd6s6ns432yvl430s5n"
WARM = "gonka1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqrk8pql"
SEED = "http://169.254.200.1:18000"
API = f"{SEED}/chain-api"
MODEL = "testorg/tiny-model"
WANTED = {
    "key_name": "fra-01", "cold_address": COLD, "choices": {MODEL: "run"}, "collateral": 3360,
    "fee_grant_min_days": 30, "cold_balance_min": 20_000_000_000, "chain_id": "gonka-mainnet",
    "node": f"{SEED}/chain-rpc/", "seed_api_url": SEED, "chain_api": API,
    "cold_key_name": "gonka-account-key", "cold_keyring_backend": "file"}
W = pp.Wanted.of(WANTED)
URLS = pp.urls(W, WARM)
DEPOSIT = {"kind": "collateral", "model": None, "amount": "3360ngonka", "expect_ngonka": 3360,
           "argv": txs.collateral_argv(3360, "gonka-account-key", "file", "gonka-mainnet",
                                       W.node)}


def tx_found(txhash: str, code: int = 0, height: int = 100501) -> tuple[int, dict]:
    return 200, {"tx": {}, "tx_response": {"height": str(height), "txhash": txhash,
                                           "code": code, "raw_log": "" if not code else "boom"}}


def tx_missing(txhash: str) -> tuple[int, dict]:
    return 404, {"code": 5, "message": f"tx not found: {txhash}", "details": []}


def collateral(ngonka: int | None) -> tuple[int, dict]:
    if ngonka is None:
        return 404, {"code": 5, "message": f"collateral not found for participant {COLD}"}
    return 200, {"amount": {"denom": "ngonka", "amount": str(ngonka)}}


def records(intents=(), delegations=(), refusals=()) -> tuple[int, dict]:
    return 200, {"intents": [{"model_id": m, "participant": COLD} for m in intents],
                 "delegations": [{"model_id": m, "delegator": COLD, "delegate_to": t}
                                 for m, t in delegations],
                 "refusals": [{"model_id": m, "participant": COLD} for m in refusals]}


class ChainHost:
    """A host whose HTTP reads (``HTTP_SCRIPT``) are answered by URL (each URL's answers in
    order, the last one repeated) and whose other commands are answered from ``shell``."""

    name = "fake-host"
    print_prefix = "[fake-host] "
    data: dict = {}

    def __init__(self, http: dict[str, list[tuple[int, dict]]] | None = None,
                 shell: list[dict] | None = None):
        self.http = {url: list(answers) for url, answers in (http or {}).items()}
        self.shell = list(shell or [])
        self.commands: list[str] = []
        self.stdins: list[str | None] = []

    def run_shell_command(self, command, **kwargs):
        text = command.get_raw_value()
        self.commands.append(text)
        self.stdins.append(kwargs.get("_stdin"))
        if shlex.quote(HTTP_SCRIPT) in text:
            url = shlex.split(text.split(shlex.quote(HTTP_SCRIPT) + " _ ", 1)[1])[0]
            answers = self.http.get(url)
            if not answers:
                return self._answer(False, [], [])
            status, doc = answers.pop(0) if len(answers) > 1 else answers[0]
            return self._answer(True, [str(status), "attempts=1", json.dumps(doc)], [])
        if not self.shell:
            raise KeyError(f"no answer for {text[:200]}")
        answer = self.shell.pop(0)
        return self._answer(answer.get("ok", True), answer.get("stdout", []),
                            answer.get("stderr", []))

    @staticmethod
    def _answer(ok, out, err):
        return ok, SimpleNamespace(stdout_lines=out, stderr_lines=err, stdout="\n".join(out),
                                   stderr="\n".join(err))

    def reads(self, url: str) -> int:
        return sum(1 for c in self.commands if f" _ {shlex.quote(url)} " in c)

    def ran(self, fragment: str) -> int:
        return sum(1 for c in self.commands if fragment in c)


class Local:
    """This machine's `inferenced`: ``keys show`` answers ``address``; each tx answers the next
    of ``txs`` (a TxResponse dict, or (rc, stdout))."""

    def __init__(self, address: str = COLD, answers: list | None = None, on_run=None):
        self.address = address
        self.answers = list(answers or [])
        self.calls: list[list[str]] = []
        self.on_run = on_run

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if self.on_run:
            self.on_run(argv)
        if argv[1:3] == ["keys", "show"]:
            return subprocess.CompletedProcess(argv, 0, stdout=f"{self.address}\n")
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, tuple):
            return subprocess.CompletedProcess(argv, answer[0], stdout=answer[1])
        return subprocess.CompletedProcess(argv, 0, stdout="gas estimate: 1\n"
                                           + json.dumps(answer) + "\n")

    def txs(self) -> list[list[str]]:
        return [c for c in self.calls if c[1] == "tx"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_STATE_DIR", str(tmp_path / "nodes"))
    monkeypatch.setattr(op.time, "sleep", lambda s: None)
    monkeypatch.setattr(op, "CONFIRM_TRIES", 3)
    monkeypatch.setattr(coldkey.shutil, "which", lambda name: f"/usr/bin/{name}")
    state = MagicMock(is_executing=True)
    state.config.SUDO = False

    def use(host, local: Local | None = None):
        if local is not None:
            monkeypatch.setattr(coldkey, "run_local", local)
        return host

    with ctx_state.use(state):
        yield SimpleNamespace(use=use, state=state)


def run_as(host, function, *args):
    with ctx_host.use(host):
        return function(*args)


def sent() -> list[SentTx]:
    return NodeState("fra-01").recorded_txs()


# --- confirm ---------------------------------------------------------------------------------

def test_confirm_waits_for_the_block_and_reads_its_code(env):
    url = pp.tx_url(W, "AA")
    host = ChainHost({url: [tx_missing("AA"), tx_found("AA")]})
    assert run_as(host, op.confirm, W, "AA") == (True, "")
    assert host.reads(url) == 2
    host = ChainHost({pp.tx_url(W, "BB"): [tx_found("BB", code=5)]})
    done, detail = run_as(host, op.confirm, W, "BB")
    assert done is False and detail == "code 5: boom"


def test_confirm_gives_up_bounded_and_says_it_does_not_know(env):
    host = ChainHost({pp.tx_url(W, "AA"): [tx_missing("AA")]})
    done, detail = run_as(host, op.confirm, W, "AA")
    assert done is None and "is not in a block after" in detail
    assert host.reads(pp.tx_url(W, "AA")) == op.CONFIRM_TRIES


def test_confirm_takes_a_malformed_or_failed_answer_as_unknown_never_as_done(env):
    url = pp.tx_url(W, "AA")
    for answer in ((200, {}), (200, {"tx_response": {"txhash": "AA", "code": 0}}),
                   (503, {"message": "busy"}), (404, {"message": "page not found"})):
        done, detail = run_as(ChainHost({url: [answer]}), op.confirm, W, "AA")
        assert done is None and url in detail, (answer, detail)


# --- _send_cold: the host's own key, never twice ---------------------------------------------

def test_a_local_key_of_another_account_sends_nothing_and_names_both(env, caplog):
    local = Local(address=WRONG, answers=[])
    host = env.use(ChainHost(), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is False
    assert local.txs() == [] and sent() == []
    assert local.calls == [["inferenced", "keys", "show", "gonka-account-key", "-a",
                            "--keyring-backend", "file"]]
    assert any(WRONG in r.getMessage() and COLD in r.getMessage() for r in caplog.records)


def test_a_deposit_is_confirmed_and_its_effect_seen_before_it_counts(env):
    local = Local(answers=[{"txhash": "D1", "code": 0}])
    host = env.use(ChainHost({pp.tx_url(W, "D1"): [tx_found("D1")],
                              URLS["Collateral"]: [collateral(3360)]}), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is True
    [record] = sent()
    assert (record.kind, record.txhash, record.status, record.expect_ngonka) == (
        "collateral", "D1", "confirmed", 3360)
    assert len(local.txs()) == 1


def test_a_confirmed_deposit_the_chain_does_not_show_stops_and_is_never_sent_again(env):
    local = Local(answers=[{"txhash": "D1", "code": 0}])
    host = env.use(ChainHost({pp.tx_url(W, "D1"): [tx_found("D1")],
                              URLS["Collateral"]: [collateral(None)]}), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is False
    [record] = sent()
    assert record.status == "sent" and "does not show it" in record.detail
    # the next run: the chain still shows no collateral: no deposit is planned, the host stops
    facts = fresh_facts()
    planned = pp.plan(W, pp.View(True, facts), WARM, [r.model_dump() for r in sent()])
    assert [t.kind for t in planned.send] == ["intent"]
    assert "D1" in planned.stop[0] and "not sending another" in planned.stop[0]


def test_a_cut_between_send_and_confirm_is_confirmed_by_hash_next_run(env):
    # the tx went out, its confirmation never came (the chain was slow): recorded as sent
    local = Local(answers=[{"txhash": "D1", "code": 0}])
    host = env.use(ChainHost({pp.tx_url(W, "D1"): [tx_missing("D1")]}), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is False
    assert [(r.txhash, r.status) for r in sent()] == [("D1", "sent")]
    # next run, still not in a block: it stops, nothing is sent
    facts = fresh_facts()
    assert pp.plan(W, pp.View(True, facts), WARM, [r.model_dump() for r in sent()]).stop
    # then it lands: settled by its hash, the chain shows it, nothing more to send
    facts["Collateral"]["ngonka"] = 3360
    view = pp.View(True, facts)
    fake = FactHost({"participation.TxResult": {
        f"attempts=4,url={pp.tx_url(W, 'D1')}": {"error": None, "found": True,
                                                  "height": 100502, "code": 0, "raw_log": ""}}})
    recorded, error = run_as(fake, op.settle, W, view)
    assert error is None and [r.status for r in recorded] == ["confirmed"]
    assert [r.status for r in sent()] == ["confirmed"]
    planned = pp.plan(W, view, WARM, [r.model_dump() for r in recorded])
    assert planned.stop == [] and "collateral" not in [t.kind for t in planned.send]


def test_a_failed_command_is_not_resent_and_a_crash_mid_send_leaves_a_record(env):
    local = Local(answers=[(1, "Error: post failed: connection reset by peer")])
    host = env.use(ChainHost(), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is False
    assert [(r.status, r.txhash) for r in sent()] == [("failed", None)]
    assert pp.plan(W, pp.View(True, fresh_facts()), WARM,
                   [r.model_dump() for r in sent()]).stop


def test_a_send_cut_before_its_hash_is_known_still_blocks_the_next(env, tmp_path):
    local = Local(answers=[subprocess.TimeoutExpired(["inferenced"], 300)])
    host = env.use(ChainHost(), local)
    with pytest.raises(subprocess.TimeoutExpired):
        run_as(host, op._send_cold, WANTED, [DEPOSIT])
    [record] = sent()
    assert (record.status, record.txhash, record.expect_ngonka) == ("sent", None, 3360)
    stop = pp.plan(W, pp.View(True, fresh_facts()), WARM, [record.model_dump()]).stop
    assert "its hash unknown" in stop[0]


def test_a_rejected_deposit_is_definite_and_may_be_planned_again(env):
    local = Local(answers=[{"txhash": "D1", "code": 5, "raw_log": "insufficient funds"}])
    host = env.use(ChainHost(), local)
    assert run_as(host, op._send_cold, WANTED, [DEPOSIT]) is False
    assert [r.status for r in sent()] == ["rejected"]
    planned = pp.plan(W, pp.View(True, fresh_facts()), WARM, [r.model_dump() for r in sent()])
    assert planned.stop == [] and "collateral" in [t.kind for t in planned.send]


def test_a_delegation_is_checked_on_the_chain_after_its_block(env):
    argv = txs.delegation_argv(MODEL, WRONG, "gonka-account-key", "file", "gonka-mainnet",
                               W.node)
    tx = {"kind": "delegation", "model": MODEL, "amount": None, "argv": argv}
    local = Local(answers=[{"txhash": "G1", "code": 0}])
    host = env.use(ChainHost({pp.tx_url(W, "G1"): [tx_found("G1")],
                              URLS["PocRecords"]: [records(delegations=[(MODEL, COLD)])]}),
                   local)
    # the chain holds a delegation of this model, but to someone else: not this tx's effect
    assert run_as(host, op._send_cold, WANTED, [tx]) is False
    assert [r.status for r in sent()] == ["sent"]


# --- item 19: one host at a time -------------------------------------------------------------

def test_cold_key_steps_of_two_hosts_never_overlap(env, monkeypatch):
    spans: list[tuple[str, str]] = []

    def on_run(argv):
        spans.append(("start", argv[1]))
        gevent.sleep(0.01)          # the operator typing the passphrase: another greenlet runs
        spans.append(("end", argv[1]))

    local = Local(answers=[{"txhash": "D1", "code": 0}, {"txhash": "D2", "code": 0}],
                  on_run=on_run)
    monkeypatch.setattr(coldkey, "run_local", local)
    results = []

    def one(txhash):
        host = ChainHost({pp.tx_url(W, txhash): [tx_found(txhash)],
                          URLS["Collateral"]: [collateral(3360)]})
        with ctx_state.use(env.state), ctx_host.use(host):
            results.append(op._send_cold(WANTED, [DEPOSIT]))

    greenlets = [gevent.spawn(one, "D1"), gevent.spawn(one, "D2")]
    gevent.joinall(greenlets, raise_error=True)
    assert results == [True, True]
    # keys show + tx of one host, then keys show + tx of the other: never interleaved
    assert [kind for kind, _ in spans] == ["start", "end"] * 4
    assert [what for _, what in spans[::2]] == ["keys", "tx", "keys", "tx"]


# --- _declare --------------------------------------------------------------------------------

DECLARE_ARGS = ("/j", ["docker-compose.yml"], WANTED, SecretStr("unit-test-Keyring-Pass-0123"))


def test_an_intent_is_declared_confirmed_and_seen_on_chain(env):
    host = ChainHost({pp.tx_url(W, "I1"): [tx_found("I1")],
                      URLS["PocRecords"]: [records(intents=[MODEL])]},
                     shell=[{"ok": True}, {"ok": True, "stdout": [json.dumps(
                         {"txhash": "I1", "code": 0})]}, {"ok": True}])
    assert run_as(host, op._declare, *DECLARE_ARGS, [MODEL]) is True
    assert host.ran("tx authz exec") == 1
    assert host.stdins[1] == "unit-test-Keyring-Pass-0123\n"
    assert [(r.kind, r.txhash, r.status) for r in sent()] == [("intent", "I1", "confirmed")]
    assert all("unit-test-Keyring-Pass" not in json.dumps(r.model_dump()) for r in sent())


def test_an_intent_in_a_block_that_the_chain_does_not_show_stops(env):
    host = ChainHost({pp.tx_url(W, "I1"): [tx_found("I1")], URLS["PocRecords"]: [records()]},
                     shell=[{"ok": True}, {"ok": True, "stdout": [json.dumps(
                         {"txhash": "I1", "code": 0})]}, {"ok": True}])
    assert run_as(host, op._declare, *DECLARE_ARGS, [MODEL]) is False
    [record] = sent()
    assert record.status == "sent" and "does not show it" in record.detail
    planned = pp.plan(W, pp.View(True, fresh_facts()), WARM, [record.model_dump()])
    assert planned.send == [] or all(t.kind != "intent" for t in planned.send)
    assert planned.stop and "I1" in planned.stop[0]


def test_a_transient_failure_is_sent_again_only_when_the_chain_shows_no_intent(env):
    reset = {"ok": False, "stderr": ["Error: post failed: connection reset by peer"]}
    host = ChainHost({pp.tx_url(W, "I2"): [tx_found("I2")],
                      URLS["PocRecords"]: [records(), records(intents=[MODEL])]},
                     shell=[{"ok": True}, reset, {"ok": True, "stdout": [json.dumps(
                         {"txhash": "I2", "code": 0})]}, {"ok": True}])
    assert run_as(host, op._declare, *DECLARE_ARGS, [MODEL]) is True
    assert host.ran("tx authz exec") == 2
    assert [(r.txhash, r.status) for r in sent()] == [("I2", "confirmed")]


def test_a_transient_failure_the_chain_cannot_explain_is_not_sent_again(env):
    reset = {"ok": False, "stderr": ["Error: post failed: connection reset by peer"]}
    host = ChainHost({URLS["PocRecords"]: [(503, {"message": "busy"})]},
                     shell=[{"ok": True}, reset])
    assert run_as(host, op._declare, *DECLARE_ARGS, [MODEL]) is False
    assert host.ran("tx authz exec") == 1
    assert [r.status for r in sent()] == ["failed"]


# --- _register -------------------------------------------------------------------------------

REGISTER_ARGS = ("/j", ["docker-compose.yml"], "fra-01", "http://203.0.113.10:8000",
                 "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", COLD, SEED)
PARTICIPANT = f"{SEED}/v2/participants/{COLD}"


def test_a_registration_is_sent_once(env):
    host = ChainHost(shell=[{"ok": True, "stdout": ["Participant registration successful."]}])
    assert run_as(host, keys._register, *REGISTER_ARGS) is True
    assert host.ran("register-new-participant") == 1
    assert NodeState("fra-01").registration().registered_by == "gonka-deploy"


def test_a_registration_that_arrived_despite_a_reset_is_not_sent_again(env):
    host = ChainHost({PARTICIPANT: [(200, {"participant": {"address": COLD}})]},
                     shell=[{"ok": False, "stderr": ["connection reset by peer"]}])
    assert run_as(host, keys._register, *REGISTER_ARGS) is True
    assert host.ran("register-new-participant") == 1
    assert NodeState("fra-01").registration().participant == {"address": COLD}


def test_a_registration_the_seed_cannot_confirm_is_not_sent_again(env):
    host = ChainHost({PARTICIPANT: [(503, {})]},
                     shell=[{"ok": False, "stderr": ["connection reset by peer"]}])
    assert run_as(host, keys._register, *REGISTER_ARGS) is False
    assert host.ran("register-new-participant") == 1
    assert NodeState("fra-01").registration() is None


def test_a_registration_lost_on_the_way_is_sent_again_only_after_a_definite_404(env):
    host = ChainHost({PARTICIPANT: [(404, {"code": 5})]},
                     shell=[{"ok": False, "stderr": ["connection reset by peer"]},
                            {"ok": True, "stdout": ["Participant registration successful."]}])
    assert run_as(host, keys._register, *REGISTER_ARGS) is True
    assert host.ran("register-new-participant") == 2


def test_a_refused_registration_is_not_retried(env):
    host = ChainHost(shell=[{"ok": False, "stderr": ["server returned status 400: bad key"]}])
    assert run_as(host, keys._register, *REGISTER_ARGS) is False
    assert host.ran("register-new-participant") == 1


# --- _grant ----------------------------------------------------------------------------------

GRANT = txs.grant_argv(WARM, SEED, "gonka-account-key", keyring_backend="file")
ALLOWANCE = f"{API}/cosmos/feegrant/v1beta1/allowance/{COLD}/{WARM}"
GRANTS = f"{API}/cosmos/authz/v1beta1/grants?granter={COLD}&grantee={WARM}"
GRANTED = {ALLOWANCE: [(200, {"allowance": {"granter": COLD, "grantee": WARM, "allowance": {
    "@type": "/cosmos.feegrant.v1beta1.BasicAllowance", "spend_limit": [],
    "expiration": None}}})],
    GRANTS: [(200, {"grants": [{"authorization": {
        "@type": "/cosmos.authz.v1beta1.GenericAuthorization", "msg": pp.CLAIM_MSG},
        "expiration": None}], "pagination": {}})]}


def test_a_grant_from_a_key_of_another_account_is_never_run(env, caplog):
    local = Local(address=WRONG)
    host = env.use(ChainHost(GRANTED), local)
    assert run_as(host, keys._grant, "fra-01", GRANT, WARM, COLD, "gonka-account-key", "file",
                  API) is False
    assert [c[1:3] for c in local.calls] == [["keys", "show"]]
    assert NodeState("fra-01").grant() is None
    assert any(WRONG in r.getMessage() and COLD in r.getMessage() for r in caplog.records)


def test_a_grant_is_run_once_and_checked_on_the_chain(env):
    local = Local(answers=[(0, "Transaction confirmed successfully!\n")])
    host = env.use(ChainHost(GRANTED), local)
    assert run_as(host, keys._grant, "fra-01", GRANT, WARM, COLD, "gonka-account-key", "file",
                  API) is True
    assert [c[1:4] for c in local.calls] == [["keys", "show", "gonka-account-key"],
                                             ["tx", "inference", "grant-ml-ops-permissions"]]
    assert NodeState("fra-01").grant().warm_address == WARM


def test_a_grant_the_chain_does_not_show_stops(env):
    local = Local(answers=[(0, "Transaction confirmed successfully!\n")])
    missing = {ALLOWANCE: [(500, {"code": 13, "message": "fee-grant not found: not found"})],
               GRANTS: GRANTED[GRANTS]}
    host = env.use(ChainHost(missing), local)
    assert run_as(host, keys._grant, "fra-01", GRANT, WARM, COLD, "gonka-account-key", "file",
                  API) is False
    assert len(local.txs()) == 1


def test_a_grant_without_the_hosts_cold_address_is_never_run(env):
    local = Local()
    host = env.use(ChainHost(), local)
    assert run_as(host, keys._grant, "fra-01", GRANT, WARM, None) is False
    assert local.calls == []


# --- helpers ---------------------------------------------------------------------------------

class FactHost:
    """A host whose facts are given (as the fixture harness's), for the operation-side reads."""

    name = "fake-host"
    print_prefix = "[fake-host] "
    data: dict = {}

    def __init__(self, facts: dict):
        from tests.unit.fixtures import FakeHost

        self.inner = FakeHost(facts)

    def get_fact(self, cls, *args, **kwargs):
        return self.inner.get_fact(cls, *args, **kwargs)


def fresh_facts() -> dict:
    return {
        "ChainParams": {"error": None, "poc_models": [{"model_id": MODEL,
                                                       "penalty_start_epoch": 0}],
                        "refusal_penalty": 0.1, "no_participation_penalty": 0.15,
                        "base_weight_ratio": 0.2, "collateral_per_weight_unit": 4.2},
        "EpochWeights": {"error": None, "epoch_index": 7, "weights": {}},
        "Collateral": {"error": None, "ngonka": None},
        "PocRecords": {"error": None, "intents": [], "delegations": {}, "refusals": []},
        "Spendable": {"error": None, "ngonka": 25_000_000_000},
        "ChainStatus": {"error": None, "height": 100500, "time": "2026-11-30T10:00:00Z"},
        "FeeAllowance": {"error": None, "found": True, "spend_limit": None, "expiration": None},
        "AuthzGrants": {"error": None, "grants": {pp.CLAIM_MSG: None, pp.INTENT_MSG: None}},
    }
