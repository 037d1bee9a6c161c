"""PoC participation, collateral and fees of a registered host, decided by the chain.

The warm key declares intents on the host, inside the api image (``docker compose run --rm
--no-deps -T api inferenced …``, the keyring password on stdin, as ``keys.warm_key``). Cold-key
transactions (delegation, refusal, collateral deposit) are printed with their exact flags and
fee; they run from the operator's keyring only when opted in (``cold_txs_from_local_keyring``).
Each transaction is sent only when the chain lacks what it sets, and confirmed on the chain by its
hash; what was sent is kept in the node's local state for the report.
"""

from __future__ import annotations

import json
import time

from pydantic import SecretStr
from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, QuoteString, StringCommand

from .. import participation as pp, txs
from ..facts import participation as chain
from ..facts.gonka import HTTP_SCRIPT, HttpGet, parse_http
from ..hostside import is_transient
from ..state import NodeState, ParticipationCheck, SentTx, now
from .keys import SEED_ATTEMPTS, _in_api
from .util import need, operation, refuse, run_on_host

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
    """The chain as the host sees it, or what could not be read."""
    url = pp.participant_url(w)
    found = need(host.get_fact(HttpGet, url=url, attempts=SEED_ATTEMPTS), f"the seed api ({url})")
    if found["status"] not in (200, 404):
        return None, (f"the seed api {url} answered {found['status'] or 'nothing'} after "
                      f"{found.get('attempts', 1)} attempt(s)")
    registered = found["status"] == 200 and bool((found.get("json") or {}).get("participant"))
    # every read first, then each checked: the reads are independent, so they are read ahead
    # together (gonka_deploy/factcache.py), not one round trip each
    read = {name: host.get_fact(FACTS[name], url=u, attempts=ATTEMPTS)
            for name, u in pp.urls(w, warm).items()}
    facts = {name: need(value, name) for name, value in read.items()}
    view = pp.View(registered, facts)
    errors = view.errors()
    return (None, "; ".join(errors)) if errors else (view, None)


def _get(url: str) -> dict:
    """A GET from the host inside a FunctionCommand (status 0: nothing answered)."""
    ok, output = run_on_host(StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_",
                                           QuoteString(url), str(ATTEMPTS)))
    return parse_http(output.stdout_lines if ok else [])


def broadcast_result(stdout: str) -> dict:
    """The TxResponse JSON an ``inferenced tx … --output json`` printed (its last JSON line)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {}


def confirm(w: pp.Wanted, txhash: str) -> tuple[bool | None, str]:
    """Wait (bounded) for ``txhash`` in a block: (True, ""), (False, the chain's log), or
    (None, why it is unknown)."""
    url = pp.tx_url(w, txhash)
    for attempt in range(1, CONFIRM_TRIES + 1):
        found = _get(url)
        response = (found["json"] or {}).get("tx_response") if found["status"] == 200 else None
        if response and chain.to_int(response.get("height")) > 0:
            code = chain.to_int(response.get("code"))
            return (True, "") if code == 0 else (False, f"code {code}: "
                                                 f"{response.get('raw_log', '')}")
        if found["status"] not in (200, 404):
            return None, f"{url} answered {found['status'] or 'nothing'}"
        logger.info(f"{host.print_prefix}waiting for tx {txhash} in a block ({attempt} of "
                    f"{CONFIRM_TRIES})")
        time.sleep(CONFIRM_INTERVAL)
    return None, f"tx {txhash} is not in a block after {CONFIRM_TRIES * CONFIRM_INTERVAL:.0f} s"


def _intent_on_chain(w: pp.Wanted, model: str) -> bool | None:
    found = _get(pp.urls(w, None)["PocRecords"])
    if found["status"] != 200 or not isinstance(found["json"], dict):
        return None
    return model in chain.PocRecords().parse(found["json"], found)["intents"]


def _declare(directory: str, files: list[str], wanted: dict, password: SecretStr,
             models: list[str]) -> bool:
    """Declare intent for each of ``models`` with the warm key: the cold address's message,
    generated unsigned, executed by the warm key under its authz grant, the fee paid by the cold
    account through its fee grant. Each is confirmed on the chain; a transient failure is sent
    again only when the chain shows no intent."""
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
        for attempt in range(1, 4):
            ok, output = run_on_host(_in_api(directory, files, *map(QuoteString, argv[1:])),
                                     stdin=f"{password.get_secret_value()}\n")
            result = broadcast_result(output.stdout)
            txhash, code = result.get("txhash"), chain.to_int(result.get("code"))
            logger.info(f"{host.print_prefix}intent for {model}: authz exec "
                        f"{'ran' if ok else 'failed'}, tx {txhash or '-'}, code {code}")
            if ok and txhash and code == 0:
                break
            text = (result.get("raw_log") or output.stderr or output.stdout)[-800:]
            if ok or not is_transient(text):
                node.record_sent(SentTx(kind="intent", signer="warm", model=model, command=argv,
                                        txhash=txhash, status="failed", detail=text, at=now()))
                logger.error(f"{host.print_prefix}intent for {model} rejected"
                             f"{f' (code {code})' if code else ''}: {text}")
                return False
            there = _intent_on_chain(w, model)
            if there:
                txhash = None
                break
            if there is None:
                logger.error(f"{host.print_prefix}intent for {model}: transient failure ({text});"
                             " the chain cannot say whether it arrived: not sending it again")
                return False
            logger.warning(f"{host.print_prefix}intent for {model}: transient failure, the "
                           f"chain holds no intent: attempt {attempt + 1} of 3")
        else:
            return False
        run_on_host(StringCommand("rm", "-f", QuoteString(path)))
        if txhash:
            node.record_sent(SentTx(kind="intent", signer="warm", model=model, command=argv,
                                    txhash=txhash, status="sent", at=now()))
            done, detail = confirm(w, txhash)
            if not done:
                status = "failed" if done is False else "sent"
                node.record_sent(SentTx(kind="intent", signer="warm", model=model, command=argv,
                                        txhash=txhash, status=status, detail=detail, at=now()))
                logger.error(f"{host.print_prefix}intent for {model} (tx {txhash}): {detail}")
                return False
        if not _intent_on_chain(w, model):
            logger.error(f"{host.print_prefix}intent for {model}: the tx is in a block but the "
                         "chain holds no intent")
            return False
        if txhash:
            node.record_sent(SentTx(kind="intent", signer="warm", model=model, command=argv,
                                    txhash=txhash, status="confirmed", at=now()))
        logger.info(f"{host.print_prefix}declared intent for {model} with the warm key"
                    + (f" (tx {txhash})" if txhash else " (it had arrived)"))
    return True


def _send_cold(wanted: dict, planned: list[dict]) -> bool:
    """Run the cold-key transactions on the operator's machine (the cold key never leaves it;
    the terminal is inherited so a file keyring can ask for its passphrase), one by one, each
    confirmed on the chain before the next."""
    import shutil
    import subprocess

    w = pp.Wanted.of(wanted)
    node = NodeState(w.key_name)
    for tx in planned:
        argv = tx["argv"]
        if not shutil.which(argv[0]):
            logger.error(f"{host.print_prefix}cold_txs_from_local_keyring: `{argv[0]}` is not "
                         "on PATH here; install the inferenced CLI or run the commands by hand")
            return False
        label = f"{tx['kind']} {tx.get('model') or tx.get('amount')}"
        logger.info(f"{host.print_prefix}sending {label} with the cold key from this machine")
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=300)
        result = broadcast_result(proc.stdout)
        txhash, code = result.get("txhash"), chain.to_int(result.get("code"))
        record = {"kind": tx["kind"], "signer": "cold", "model": tx.get("model"),
                  "amount": tx.get("amount"), "command": argv, "txhash": txhash, "at": now()}
        if proc.returncode or not txhash or code:
            detail = (result.get("raw_log") or proc.stdout)[-500:]
            node.record_sent(SentTx(**record, status="failed", detail=detail))
            logger.error(f"{host.print_prefix}{label} failed (rc {proc.returncode}"
                         f"{f', code {code}' if code else ''}): {detail}")
            return False
        node.record_sent(SentTx(**record, status="sent"))
        done, detail = confirm(w, txhash)
        if not done:
            node.record_sent(SentTx(**record, status="failed" if done is False else "sent",
                                    detail=detail))
            logger.error(f"{host.print_prefix}{label} (tx {txhash}): {detail}")
            return False
        node.record_sent(SentTx(**record, status="confirmed"))
        logger.info(f"{host.print_prefix}{label}: tx {txhash} confirmed")
    return True


def unresolved_deposit(w: pp.Wanted) -> tuple[str | None, str]:
    """A collateral deposit this machine sent whose fate the chain has not shown: (its hash,
    why), or (None, "")."""
    pending = [s for s in NodeState(w.key_name).participation().sent
               if s.kind == "collateral" and s.status == "sent" and s.txhash]
    for sent in pending:
        url = pp.tx_url(w, sent.txhash)
        found = need(host.get_fact(HttpGet, url=url, attempts=ATTEMPTS), f"tx {sent.txhash}")
        if found["status"] == 200:
            continue  # in a block: the chain's collateral counts it
        why = "is not on the chain" if found["status"] == 404 else \
            f"cannot be looked up ({found['status'] or 'no answer'})"
        return sent.txhash, f"the deposit {sent.amount} sent at {sent.at} (tx {sent.txhash}) {why}"
    return None, ""


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
    planned = pp.plan(w, view, warm)
    for note in planned.notes:
        logger.info(f"{host.print_prefix}{note}")
    for why in planned.blocked:
        logger.warning(f"{host.print_prefix}{why}")
    warm_txs = [t for t in planned.send if t.signer == "warm"]
    cold_txs = [t for t in planned.send if t.signer == "cold"]
    if cold_txs_local and any(t.kind == "collateral" for t in cold_txs):
        txhash, why = unresolved_deposit(w)
        if txhash:
            deposit = next(t for t in cold_txs if t.kind == "collateral")
            yield from refuse(f"{why}: not sending another deposit while it is unresolved; if "
                              f"it was dropped, deposit by hand ({txs.text(deposit.argv)}): the "
                              "next run decides by the chain's collateral")
            return
    doing = "" if state.is_executing else "would "
    for tx in warm_txs:
        logger.info(f"{host.print_prefix}{doing}declare intent for {tx.model} with the warm key "
                    f"(authz exec; the fee from {w.cold_address} through its fee grant)")
    for tx in cold_txs:
        where = "from this machine's keyring" if cold_txs_local else \
            "on the machine with the cold key"
        logger.warning(f"{host.print_prefix}cold key: {tx.label} {where}: {txs.text(tx.argv)}")
    if warm_txs:
        yield FunctionCommand(_declare, (directory, files, wanted, password,
                                         [t.model for t in warm_txs]), {})
    if cold_txs and cold_txs_local:
        yield FunctionCommand(_send_cold, (wanted, [
            {"kind": t.kind, "model": t.model, "amount": t.ngonka and f"{t.ngonka}ngonka",
             "argv": t.argv} for t in cold_txs]), {})
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
