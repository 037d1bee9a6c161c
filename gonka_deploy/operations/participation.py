"""PoC participation, collateral and fees of a registered host, decided by the chain.

The warm key declares intents on the host, inside the api image (``docker compose run --rm
--no-deps -T api inferenced …``, the keyring password on stdin, as ``keys.warm_key``). Cold-key
transactions (delegation, refusal, collateral deposit) are printed with their exact flags and
fee; they run from the operator's keyring only when opted in (``cold_txs_from_local_keyring``).
Each transaction is sent only when the chain lacks what it sets, and confirmed on the chain by its
hash; after its block the chain must show what it set, or the host stops. What was sent is
recorded in the node's local state before it runs: a send whose fate is unknown is looked up by
its hash on the next run, and nothing else is sent for the same model or deposit until the chain
shows it (``participation.plan``'s ``stop``). Cold-key transactions run one host at a time and
only from the host's own cold account (``coldkey``).
"""

from __future__ import annotations

import json
import time
import uuid

from pydantic import SecretStr
from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from .. import participation as pp, txs
from ..facts import participation as chain
from ..facts.gonka import HTTP_SCRIPT, HttpGet
from ..hostside import is_transient
from ..state import NodeState, ParticipationCheck, SentTx, now
from . import coldkey
from .keys import SEED_ATTEMPTS, _in_api
from .util import host_step, need, operation, refuse, run_on_host

# Chain reads are retried on transient answers (node3 "returns 503 for some poc_delegation
# lookups under load": gonka-ai/gonka-docs@570482bc:docs/host/deepseek-bootstrap.md).
ATTEMPTS = 4
CONFIRM_TRIES = 20          # 20 x 3 s, as grant-ml-ops-permissions waits for its tx
CONFIRM_INTERVAL = 3.0
TX_DIR = ".inference/gonka-deploy"          # under deploy/join; /root/.inference in the api
FACTS = {"ChainParams": chain.ChainParams, "EpochWeights": chain.EpochWeights,
         "Collateral": chain.Collateral, "PocRecords": chain.PocRecords,
         "Spendable": chain.Spendable, "ChainStatus": chain.ChainStatus,
         "FeeAllowance": chain.FeeAllowance, "AuthzGrants": chain.AuthzGrants}


def read_chain(w: pp.Wanted, warm: str | None) -> tuple[pp.View | None, str | None]:
    """The chain as the host sees it, or what could not be read (each failed read naming its
    URL and what was wrong with the answer)."""
    url = pp.participant_url(w)
    found = need(host.get_fact(HttpGet, url=url, attempts=SEED_ATTEMPTS), f"the seed api ({url})")
    if found["status"] not in (200, 404):
        return None, (f"the seed api {url} answered {found['status'] or 'nothing'} after "
                      f"{found.get('attempts', 1)} attempt(s)")
    doc = found.get("json")
    if found["status"] == 200 and not (isinstance(doc, dict)
                                       and isinstance(doc.get("participant"), dict)):
        # 200 means "registered" only with the participant in it; anything else is a shape
        # this code does not know, not "not registered"
        return None, f"the seed api {url} answered 200 without a `participant` object"
    registered = found["status"] == 200
    # every read first, then each checked: the reads are independent, so they are read ahead
    # together (gonka_deploy/factcache.py), not one round trip each
    where = pp.urls(w, warm)
    read = {name: host.get_fact(FACTS[name], url=u, attempts=ATTEMPTS)
            for name, u in where.items()}
    facts = {name: need(value, name) for name, value in read.items()}
    view = pp.View(registered, facts)
    errors = [f"{name} {where[name]}: {facts[name]['error']}" for name in facts
              if facts[name].get("error")]
    return (None, "; ".join(errors)) if errors else (view, None)


def chain_read(fact: type[chain._ChainGet], url: str) -> dict:
    """One chain read from the host inside a FunctionCommand, parsed (shape-checked) by its
    fact; a failed read has ``error`` naming the URL."""
    ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                           QuoteString(url), str(ATTEMPTS)))
    value = fact().process(output.stdout_lines if ok else [])
    if value.get("error"):
        value["error"] = f"{url}: {value['error']}"
    return value


def broadcast_result(stdout: str) -> dict:
    """The TxResponse JSON an ``inferenced tx … --output json`` printed (its last JSON line)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                break
            return found if isinstance(found, dict) else {}
    return {}


def confirm(w: pp.Wanted, txhash: str) -> tuple[bool | None, str]:
    """Wait (bounded) for ``txhash`` in a block: (True, ""), (False, the chain's log), or
    (None, why it is unknown)."""
    url = pp.tx_url(w, txhash)
    for attempt in range(1, CONFIRM_TRIES + 1):
        found = chain_read(chain.TxResult, url)
        if found["error"]:
            return None, found["error"]
        if found["found"]:
            code = found["code"]
            return (True, "") if code == 0 else (False, f"code {code}: {found['raw_log']}")
        logger.info(f"{host.print_prefix}waiting for tx {txhash} in a block ({attempt} of "
                    f"{CONFIRM_TRIES})")
        time.sleep(CONFIRM_INTERVAL)
    return None, f"tx {txhash} is not in a block after {CONFIRM_TRIES * CONFIRM_INTERVAL:.0f} s"


def effect_shown(w: pp.Wanted, sent: dict) -> tuple[bool | None, str]:
    """Whether the chain now holds what ``sent`` set, read again after its confirmation (None:
    the chain could not be read)."""
    urls = pp.urls(w, None)
    if sent["kind"] == "collateral":
        facts = {"Collateral": chain_read(chain.Collateral, urls["Collateral"])}
    else:
        facts = {"PocRecords": chain_read(chain.PocRecords, urls["PocRecords"])}
    errors = [f["error"] for f in facts.values() if f.get("error")]
    if errors:
        return None, errors[0]
    return pp.shows(pp.View(True, facts), sent), ""


def _intent_on_chain(w: pp.Wanted, model: str) -> bool | None:
    found = chain_read(chain.PocRecords, pp.urls(w, None)["PocRecords"])
    if found["error"]:
        return None
    return model in found["intents"]


def _settle_sent(w: pp.Wanted, node: NodeState, record: SentTx, txhash: str) -> bool:
    """After a broadcast: confirm ``txhash`` by the chain, then check that the chain shows what
    it set. Recorded at each step; False (logged) unless both hold."""
    record = record.model_copy(update={"txhash": txhash, "status": "sent", "at": now()})
    node.record_sent(record)
    label = f"{record.kind} {record.model or record.amount}"
    done, detail = confirm(w, txhash)
    if done is False:
        node.record_sent(record.model_copy(update={"status": "rejected", "detail": detail}))
        logger.error(f"{host.print_prefix}{label} (tx {txhash}) was rejected: {detail}")
        return False
    if done is None:
        node.record_sent(record.model_copy(update={"detail": detail}))
        logger.error(f"{host.print_prefix}{label} (tx {txhash}): {detail}; it is not sent "
                     "again: the next run looks it up by its hash")
        return False
    shown, why = effect_shown(w, record.model_dump())
    if not shown:
        detail = "in a block with code 0, but the chain does not show it" + (
            f" (reading it again: {why})" if why else "")
        node.record_sent(record.model_copy(update={"detail": detail}))
        logger.error(f"{host.print_prefix}{label} (tx {txhash}) is {detail}: stopping here, "
                     "nothing is sent again; check the host's records on the chain")
        return False
    node.record_sent(record.model_copy(update={"status": "confirmed", "detail": ""}))
    logger.info(f"{host.print_prefix}{label}: tx {txhash} confirmed, and the chain shows it")
    return True


def _declare(directory: str, files: list[str], wanted: dict, password: SecretStr,
             models: list[str]) -> bool:
    """Declare intent for each of ``models`` with the warm key: the cold address's message,
    generated unsigned, executed by the warm key under its authz grant, the fee paid by the cold
    account through its fee grant. Each is confirmed on the chain, and the chain must then show
    the intent; a transient failure is sent again only when the chain shows no intent."""
    w = pp.Wanted.of(wanted)
    node = NodeState(w.key_name)
    host_dir = f"{directory}/{TX_DIR}"
    for model in models:
        path = f"{host_dir}/intent.json"
        generate = StringCommand(
            "mkdir", "-p", QuoteString(host_dir), "&&",
            _in_api(directory, files, *map(QuoteString,
                                           txs.intent_generate_argv(model, w.cold_address)[1:])),
            ">", QuoteString(path))
        ok, output = run_on_host(generate)
        if not ok:
            logger.error(f"{host.print_prefix}declare-poc-intent --generate-only for {model} "
                         f"failed: {output.stderr[-500:]}")
            return False
        argv = txs.authz_exec_argv(f"/root/{TX_DIR}/intent.json", w.key_name, w.cold_address,
                                   w.chain_id, w.node)
        record = SentTx(kind="intent", signer="warm", model=model, command=argv, status="sent",
                        at=now(), id=str(uuid.uuid4()))
        for attempt in range(1, 4):
            node.record_sent(record)  # before the command: a cut run still shows it
            ok, output = run_on_host(_in_api(directory, files, *map(QuoteString, argv[1:])),
                                     stdin=f"{password.get_secret_value()}\n")
            result = broadcast_result(output.stdout)
            txhash, code = result.get("txhash"), chain.to_int(result.get("code"))
            logger.info(f"{host.print_prefix}intent for {model}: authz exec "
                        f"{'ran' if ok else 'failed'}, tx {txhash or '-'}, code {code}")
            if ok and txhash and code == 0:
                break
            text = (result.get("raw_log") or output.stderr or output.stdout)[-800:]
            if ok and txhash and code:
                node.record_sent(record.model_copy(update={
                    "txhash": txhash, "status": "rejected", "detail": text, "at": now()}))
                logger.error(f"{host.print_prefix}intent for {model} rejected (code {code}): "
                             f"{text}")
                return False
            if ok or not is_transient(text):
                node.record_sent(record.model_copy(update={
                    "txhash": txhash, "status": "failed", "detail": text, "at": now()}))
                logger.error(f"{host.print_prefix}intent for {model} failed: {text}")
                return False
            there = _intent_on_chain(w, model)
            if there:
                node.record_sent(record.model_copy(update={"status": "confirmed",
                                                           "detail": "it had arrived"}))
                txhash = None
                break
            if there is None:
                node.record_sent(record.model_copy(update={"status": "failed", "detail": text}))
                logger.error(f"{host.print_prefix}intent for {model}: transient failure ({text});"
                             " the chain cannot say whether it arrived: not sending it again")
                return False
            logger.warning(f"{host.print_prefix}intent for {model}: transient failure, the "
                           f"chain holds no intent: attempt {attempt + 1} of 3")
        else:
            node.record_sent(record.model_copy(update={"status": "failed",
                                                       "detail": "3 transient failures"}))
            return False
        run_on_host(StringCommand("rm", "-f", QuoteString(path)))
        if txhash and not _settle_sent(w, node, record, txhash):
            return False
        logger.info(f"{host.print_prefix}declared intent for {model} with the warm key"
                    + (f" (tx {txhash})" if txhash else " (it had arrived)"))
    return True


def _send_cold(wanted: dict, planned: list[dict]) -> bool:
    """Run the cold-key transactions on the operator's machine (the cold key never leaves it;
    the terminal is inherited so a file keyring can ask for its passphrase), one host at a time
    (``coldkey.COLD_KEY_LOCK``), only from the host's own cold account, one by one: each
    confirmed on the chain, and its effect seen there, before the next."""
    w = pp.Wanted.of(wanted)
    node = NodeState(w.key_name)
    with coldkey.COLD_KEY_LOCK:
        if not planned:
            return True
        if not coldkey.local_key_is(w.cold_address, w.cold_key_name, w.cold_keyring_backend,
                                    planned[0]["argv"][0]):
            return False
        for tx in planned:
            argv = tx["argv"]
            label = f"{tx['kind']} {tx.get('model') or tx.get('amount')}"
            record = SentTx(kind=tx["kind"], signer="cold", model=tx.get("model"),
                            amount=tx.get("amount"), command=argv, status="sent", at=now(),
                            id=str(uuid.uuid4()), expect_ngonka=tx.get("expect_ngonka"))
            node.record_sent(record)  # before the command: a cut run still shows it
            logger.info(f"{host.print_prefix}sending {label} with the cold key from this "
                        "machine")
            proc = coldkey.run_local(argv)
            result = broadcast_result(proc.stdout or "")
            txhash, code = result.get("txhash"), chain.to_int(result.get("code"))
            if txhash and code:
                detail = str(result.get("raw_log") or "")[-500:]
                node.record_sent(record.model_copy(update={"txhash": txhash,
                                                           "status": "rejected",
                                                           "detail": detail}))
                logger.error(f"{host.print_prefix}{label} rejected (code {code}): {detail}")
                return False
            if proc.returncode or not txhash:
                detail = (proc.stdout or "")[-500:]
                node.record_sent(record.model_copy(update={"status": "failed",
                                                           "detail": detail}))
                logger.error(f"{host.print_prefix}{label} failed (rc {proc.returncode}); whether "
                             f"it was broadcast is unknown, so it is not sent again: {detail}")
                return False
            if not _settle_sent(w, node, record, txhash):
                return False
    return True


def settle(w: pp.Wanted, view: pp.View) -> tuple[list[SentTx], str | None]:
    """The node's recorded transactions, those of unknown fate confirmed by their hash first:
    one in a block with code 0 whose effect the chain shows is confirmed, one with another code
    is rejected (written at execute time). A hash that cannot be looked up fails the host."""
    node = NodeState(w.key_name)
    out = []
    for sent in node.recorded_txs():
        if sent.status not in pp.UNKNOWN or not sent.txhash:
            out.append(sent)
            continue
        url = pp.tx_url(w, sent.txhash)
        found = need(host.get_fact(chain.TxResult, url=url, attempts=ATTEMPTS),
                     f"tx {sent.txhash}")
        if found["error"]:
            return [], f"tx {sent.txhash} {url}: {found['error']}"
        update = None
        if found["found"] and found["code"]:
            update = {"status": "rejected", "detail": f"code {found['code']}: "
                      f"{found['raw_log'][:300]}"}
        elif found["found"] and pp.shows(view, sent.model_dump()):
            update = {"status": "confirmed", "detail": f"found in block {found['height']}"}
        elif found["found"]:
            update = {"detail": f"in block {found['height']} with code 0, but the chain does "
                      "not show it"}
        if update:
            sent = sent.model_copy(update=update)
            if state.is_executing:
                node.record_sent(sent)
        out.append(sent)
    return out, None


@operation()
def converged(wanted: dict, directory: str, files: list[str], password: SecretStr,
              cold_txs_local: bool = False):
    """
    Bring the chain to the host's PoC choices and collateral: the warm key declares the intents
    of the models the host runs; the cold key's transactions (delegation, refusal, collateral
    deposit) are printed, or sent from this machine's keyring when opted in. Only what the
    chain lacks is sent; a read that fails fails the host (it never means "not there").

    + wanted: ``gonka_deploy.participation.wanted(config)`` (choices, collateral, addresses)
    + directory: deploy/join of the clone (compose project directory)
    + files: compose files
    + password: the keyring password (a ``SecretStr``, unwrapped only for stdin)
    + cold_txs_local: send the cold-key transactions from this machine's keyring

    **Example:**

    .. code:: python

        participation.converged(wanted=pp.wanted(config), directory=join, files=files,
                                password=config.keyring_password)
    """
    w = pp.Wanted.of(wanted)
    warm = NodeState(w.key_name).warm_address()
    view, error = read_chain(w, warm)
    if view is None:
        yield from refuse(f"could not read the chain ({error}): nothing sent on a guess; "
                          "re-run when it answers")
        return
    recorded, error = settle(w, view)
    if error:
        yield from refuse(f"could not look up a transaction sent earlier ({error}): nothing sent "
                          "on a guess; re-run when it answers")
        return
    planned = pp.plan(w, view, warm, [r.model_dump() for r in recorded])
    if planned.stop:
        yield from refuse("; ".join(planned.stop))
        return
    for note in planned.notes:
        logger.info(f"{host.print_prefix}{note}")
    for why in planned.blocked:
        logger.warning(f"{host.print_prefix}{why}")
    warm_txs = [t for t in planned.send if t.signer == "warm"]
    cold_txs = [t for t in planned.send if t.signer == "cold"]
    doing = "" if state.is_executing else "would "
    for tx in warm_txs:
        logger.info(f"{host.print_prefix}{doing}declare intent for {tx.model} with the warm key "
                    f"(authz exec; the fee from {w.cold_address} through its fee grant)")
    for tx in cold_txs:
        where = "from this machine's keyring" if cold_txs_local else \
            "on the machine with the cold key"
        logger.warning(f"{host.print_prefix}cold key: {tx.label} {where}: {txs.text(tx.argv)}")
    if warm_txs:
        yield from host_step(_declare, directory, files, wanted, password,
                             [t.model for t in warm_txs], what="the warm-key intents")
    if cold_txs and cold_txs_local:
        have = view["Collateral"]["ngonka"] or 0
        yield from host_step(_send_cold, wanted, [
            {"kind": t.kind, "model": t.model, "amount": t.ngonka and f"{t.ngonka}ngonka",
             "expect_ngonka": have + t.ngonka if t.ngonka else None, "argv": t.argv}
            for t in cold_txs], what="the cold-key transactions")
    if not warm_txs and not (cold_txs and cold_txs_local):
        waiting = len(cold_txs) + len(planned.blocked)
        host.noop("the chain holds the host's PoC choices and collateral" if not waiting else
                  f"{waiting} participation item(s) wait for the operator (printed above)")


def check_lines(items: list[pp.Item]) -> list[str]:
    marks = {True: "ok", None: "WARN", False: "FAIL"}
    width = max((len(i.name) for i in items), default=0)
    lines = []
    for item in items:
        lines.append(f"  {marks[item.ok]:<4}  {item.name:<{width}}  {item.detail}")
        lines += [f"        fix: {fix}" for fix in item.fix]
    return lines


@operation()
def checked(wanted: dict):
    """
    Verify a host's participation as the chain sees it: each PoC model covered (intent,
    delegation or refusal), collateral present, the cold->warm fee grant valid for long enough,
    the cold account's spendable balance, weight in the current epoch. A missing item is a
    warning with the exact command that fixes it (never a failure); a read that fails fails the
    host. The result is kept in the node's local state for the report (at execute time).

    + wanted: ``gonka_deploy.participation.wanted(config)``

    **Example:**

    .. code:: python

        participation.checked(wanted=pp.wanted(config))
    """
    w = pp.Wanted.of(wanted)
    warm = NodeState(w.key_name).warm_address()
    view, error = read_chain(w, warm)
    if view is None:
        yield from refuse(f"could not read the chain ({error})")
        return
    items = pp.assess(w, view, warm)
    warned = sum(1 for i in items if i.ok is None)
    logger.info(f"{host.print_prefix}participation: {len(items) - warned} ok, {warned} "
                f"warning(s) of {len(items)}")
    for line in check_lines(items):
        logger.info(f"{host.print_prefix}{line}")
    if state.is_executing:
        NodeState(w.key_name).set_participation_checks([
            ParticipationCheck(name=i.name, ok=i.ok, detail=i.detail, fix=i.fix) for i in items])
    host.noop(f"participation: {len(items) - warned} of {len(items)} ok"
              + (f", {warned} warning(s) with their fix" if warned else ""))
