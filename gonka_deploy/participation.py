"""What a registered host needs on chain to earn its weight, decided from the chain's own state.

Pure functions: :func:`wanted` turns a host's config into plain data, :func:`plan` says which
transactions would bring the chain to it (each at most once, none on a guess), :func:`assess`
says what is missing, each item with the exact command that fixes it. The operations
(``operations/participation.py``) read the chain through facts and act on these.

The rules (gonka-ai/gonka-docs@570482bc:docs/host/multi_model_poc.md, deepseek-bootstrap.md,
glm-bootstrap.md; gonka-ai/gonka@ee730031:proposals/multi-model-poc/README.md):
- For each PoC model a host runs it, delegates it or refuses it. Nothing costs
  ``no_participation_penalty`` (15 %) of weight per epoch per model, refusing costs
  ``refusal_penalty`` (10 %). "Run" needs no transaction for an active model (the stack commits
  PoC), but a model still bootstrapping needs a declared intent ("INTENT — host stores a
  `MsgDeclarePoCIntent` record"); declaring it again is harmless (a plain `Set`,
  keeper/poc_delegation.go). So a host that runs a model declares intent once and the chain
  shows what it covers. The last record sent replaces the other two ("sending any one of them
  clears the other two").
- Since v0.2.16 the warm key may declare intent (gonka-ai/gonka#1760), through `authz exec` of a
  message of the cold address; delegation and refusal still need the cold key.
- Collateral: without it only ``base_weight_ratio`` (20 %) of weight counts; the minimum is
  ``weight x (1 - base_weight_ratio) x collateral_per_weight_unit`` ngonka
  (docs/host/collateral.md). Deposits add up.
- Fees (v0.2.16): the cold account pays every fee of the warm key through the cold->warm fee
  grant; "hosts must check that their cold-to-warm feegrant is valid. The cold account must have
  enough spendable GNK to cover fees" (update-v0.2.16/README.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from . import txs
from .address import account_address
from .schema import HostConfig, PocDelegate
from .units import coin, gnk

# The warm key's grants a host needs: the marker of a cold->warm pair (the v0.2.16 upgrade finds
# pairs by it, gonka-ai/gonka app/upgrades/v0_2_16/upgrades.go `WarmKeyGrantMarkerTypeURL`) and
# the intent.
CLAIM_MSG = "/inference.inference.MsgClaimRewards"
INTENT_MSG = txs.INTENT_MSG
EXEC_FEE = int(txs.EXEC_GAS) * 1  # ngonka: gas x 1 ngonka/gas


@dataclass(frozen=True)
class Wanted:
    """A host's participation settings, as plain data (operation arguments, fixtures)."""

    key_name: str
    cold_address: str
    choices: dict[str, str]          # model -> "run" | "refuse" | "delegate:<address>"
    collateral: int | None           # ngonka the chain should hold; None: no target
    fee_grant_min_days: int
    cold_balance_min: int
    chain_id: str
    node: str                        # chain RPC for transactions
    seed_api_url: str
    chain_api: str
    cold_key_name: str
    cold_keyring_backend: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Wanted:
        return cls(**data)


def encode(choice: str | PocDelegate) -> str:
    return f"delegate:{choice.delegate}" if isinstance(choice, PocDelegate) else choice


def wanted(config: HostConfig) -> dict[str, Any]:
    return asdict(Wanted(
        key_name=config.key_name, cold_address=account_address(config.account_pubkey),
        choices={m: encode(c) for m, c in sorted(config.poc_choices.items())},
        collateral=config.collateral_ngonka, fee_grant_min_days=config.fee_grant_min_days,
        cold_balance_min=config.cold_balance_min_ngonka, chain_id=config.chain_id,
        node=config.seed_node_rpc_url, seed_api_url=config.seed_api_url.rstrip("/"),
        chain_api=config.chain_api, cold_key_name=config.cold_key_name,
        cold_keyring_backend=config.cold_keyring_backend))


def urls(w: Wanted, warm: str | None) -> dict[str, str]:
    """The chain reads of a host, by fact name (the warm grants only once a warm key exists)."""
    api, cold = w.chain_api, w.cold_address
    out = {
        "ChainParams": f"{api}/productscience/inference/inference/params",
        "EpochWeights": f"{api}/productscience/inference/inference/current_epoch_group_data",
        "Collateral": f"{api}/productscience/inference/collateral/collateral/{cold}",
        "PocRecords": f"{api}/productscience/inference/inference/poc_delegation/{cold}",
        "Spendable": f"{api}/cosmos/bank/v1beta1/spendable_balances/{cold}",
        "ChainStatus": f"{w.node.rstrip('/')}/status",
    }
    if warm:
        out["FeeAllowance"] = f"{api}/cosmos/feegrant/v1beta1/allowance/{cold}/{warm}"
        out["AuthzGrants"] = f"{api}/cosmos/authz/v1beta1/grants?granter={cold}&grantee={warm}"
    return out


def participant_url(w: Wanted) -> str:
    return f"{w.seed_api_url}/v2/participants/{w.cold_address}"


def tx_url(w: Wanted, txhash: str) -> str:
    return f"{w.chain_api}/cosmos/tx/v1beta1/txs/{txhash}"


@dataclass(frozen=True)
class View:
    """The chain as the facts read it (one value per fact of ``urls``)."""

    registered: bool
    facts: dict[str, dict]

    def errors(self) -> list[str]:
        return [f"{name}: {fact['error']}" for name, fact in self.facts.items()
                if fact.get("error")]

    def __getitem__(self, name: str) -> dict:
        return self.facts[name]

    def get(self, name: str) -> dict | None:
        return self.facts.get(name)


def recorded(view: View, model: str) -> str | None:
    """What the chain holds for ``model``, in the choices' encoding (None: nothing)."""
    records = view["PocRecords"]
    if model in records["intents"]:
        return "run"
    if records["delegations"].get(model):
        return f"delegate:{records['delegations'][model]}"
    if model in records["refusals"]:
        return "refuse"
    return None


def chain_poc_models(view: View) -> list[str]:
    return [m["model_id"] for m in view["ChainParams"]["poc_models"]]


def parse_time(text: str) -> dt.datetime:
    """RFC 3339 as the chain writes it (nanoseconds, ``Z``) -> an aware datetime."""
    stamp = text.strip().replace("Z", "+00:00")
    if "." in stamp:
        head, tail = stamp.split(".", 1)
        digits = tail[:len(tail) - len(tail.lstrip("0123456789"))]
        stamp = head + "." + digits[:6].ljust(6, "0") + tail[len(digits):]
    return dt.datetime.fromisoformat(stamp)


def days_left(expiration: str | None, now: str) -> float | None:
    """Days from the chain's ``now`` to ``expiration`` (None: it never expires)."""
    if not expiration:
        return None
    return (parse_time(expiration) - parse_time(now)).total_seconds() / 86400


def describe(choice: str | None) -> str:
    if choice is None:
        return "nothing"
    if choice == "run":
        return "intent (run)"
    if choice == "refuse":
        return "refusal"
    return f"delegation to {choice.split(':', 1)[1]}"


def cold_argv(w: Wanted, model: str, choice: str) -> list[str]:
    args = (w.cold_key_name, w.cold_keyring_backend, w.chain_id, w.node)
    if choice == "run":
        return txs.intent_argv(model, *args)
    if choice == "refuse":
        return txs.refusal_argv(model, *args)
    return txs.delegation_argv(model, choice.split(":", 1)[1], *args)


def grant_argv(w: Wanted, warm: str) -> list[str]:
    return txs.grant_argv(warm, w.seed_api_url, w.cold_key_name,
                          keyring_backend=w.cold_keyring_backend)


@dataclass(frozen=True)
class Tx:
    """One transaction the chain lacks: sent by the warm key on the host, or by the cold key
    (printed, or run on the operator's machine when opted in)."""

    kind: str                   # intent | delegation | refusal | collateral
    signer: str                 # warm | cold
    model: str | None = None
    ngonka: int | None = None
    argv: list[str] = field(default_factory=list)   # the cold key's command

    @property
    def label(self) -> str:
        what = self.model if self.model else coin(self.ngonka or 0)
        return f"{self.kind} {what}"


@dataclass
class Plan:
    send: list[Tx] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)     # why a warm tx cannot be sent now
    notes: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)        # fail the host: a send is unresolved


# A recorded transaction whose fate is unknown: it may be on its way (or in a block whose effect
# the chain does not show). Another one for the same thing is never sent while it is unresolved.
UNKNOWN = ("sent", "failed")


def expected_collateral(sent: dict) -> int:
    """The collateral the chain holds once a recorded deposit counts (at least its amount)."""
    if sent.get("expect_ngonka") is not None:
        return int(sent["expect_ngonka"])
    return int(str(sent.get("amount") or "0").removesuffix("ngonka") or 0)


def shows(view: View, sent: dict) -> bool:
    """Whether the chain holds what a recorded transaction set."""
    if sent["kind"] == "collateral":
        return (view["Collateral"]["ngonka"] or 0) >= expected_collateral(sent)
    have = recorded(view, sent.get("model") or "")
    if sent["kind"] == "intent":
        return have == "run"
    if sent["kind"] == "refusal":
        return have == "refuse"
    target = txs.delegation_target(sent.get("command") or [])
    return target is not None and have == f"delegate:{target}"


def unresolved(view: View, sent: list[dict], kind: str, model: str | None = None) -> list[dict]:
    """The recorded sends for a deposit (every one) or for ``model`` (its latest) whose fate is
    unknown and whose effect the chain does not show."""
    if kind == "collateral":
        mine = [s for s in sent if s["kind"] == "collateral"]
    else:
        mine = [s for s in sent if s["kind"] != "collateral" and s.get("model") == model][-1:]
    return [s for s in mine if s["status"] in UNKNOWN and not shows(view, s)]


def describe_sent(sent: dict) -> str:
    what = sent.get("model") or sent.get("amount") or ""
    tx = f"tx {sent['txhash']}" if sent.get("txhash") else "its hash unknown (the run was cut " \
        "or the command failed)"
    return (f"the {sent['kind']} {what} sent at {sent['at']} ({tx}; {sent['status']}"
            + (f": {sent['detail'][:200]}" if sent.get("detail") else "") + ")")


def stop_message(pending: list[dict], fix: list[str]) -> str:
    return ("; ".join(describe_sent(s) for s in pending)
            + ": the chain does not show it; not sending another while its fate is unknown. "
            "Look it up on the chain; once it counts the next run goes on; if it never left, "
            f"send it by hand ({txs.text(fix)}): the next run decides by the chain")


def warm_blockers(w: Wanted, view: View, warm: str | None) -> list[str]:
    """Why the warm key cannot declare an intent now (nothing, when it can)."""
    if not view.registered:
        return ["the participant is not registered yet"]
    if not warm:
        return ["the warm key does not exist yet"]
    now = view["ChainStatus"]["time"]
    out = []
    grants = view["AuthzGrants"]["grants"]
    if INTENT_MSG not in grants:
        grant = txs.intent_grant_argv(warm, w.cold_key_name, w.cold_keyring_backend, w.chain_id,
                                      w.node)
        out.append(f"the warm key holds no authz grant for {INTENT_MSG} (run the grant: "
                   f"{txs.text(grant)})")
    elif (left := days_left(grants[INTENT_MSG], now)) is not None and left <= 0:
        out.append(f"the warm key's authz grant for {INTENT_MSG} expired")
    allowance = view["FeeAllowance"]
    if not allowance["found"]:
        out.append("no cold->warm fee grant (run the grant: "
                   f"{txs.text(grant_argv(w, warm))})")
    elif (left := days_left(allowance["expiration"], now)) is not None and left <= 0:
        out.append("the cold->warm fee grant expired")
    elif allowance["spend_limit"] is not None and allowance["spend_limit"] < EXEC_FEE:
        out.append(f"the fee grant has {coin(allowance['spend_limit'])} left, the intent's fee "
                   f"is {coin(EXEC_FEE)}")
    if view["Spendable"]["ngonka"] < EXEC_FEE:
        out.append(f"the cold account {w.cold_address} holds {coin(view['Spendable']['ngonka'])} "
                   f"spendable, the fee is {coin(EXEC_FEE)}")
    return out


def plan(w: Wanted, view: View, warm: str | None, sent: list[dict] = ()) -> Plan:
    """The transactions that bring the chain to ``w``: only what the chain lacks, and nothing
    for what a recorded send (``sent``: ``SentTx`` records as dicts, oldest first) may still
    set: that stops the host instead (``Plan.stop``)."""
    out = Plan()
    sent = list(sent)
    on_chain = chain_poc_models(view)
    blockers = None
    for model, choice in w.choices.items():
        if model not in on_chain:
            out.notes.append(f"{model} is not a PoC model on chain (poc_params.models): "
                             "nothing to send for it")
            continue
        have = recorded(view, model)
        if have == choice:
            continue
        if pending := unresolved(view, sent, "poc", model):
            out.stop.append(stop_message(pending, cold_argv(w, model, choice)))
            continue
        if choice == "run":
            blockers = warm_blockers(w, view, warm) if blockers is None else blockers
            if blockers:
                out.blocked.append(f"intent for {model} not sent: " + "; ".join(blockers))
                continue
            out.send.append(Tx("intent", "warm", model))
        elif not view.registered:
            out.blocked.append(f"{describe(choice)} for {model} waits for the registration")
        else:
            kind = "refusal" if choice == "refuse" else "delegation"
            out.send.append(Tx(kind, "cold", model, argv=cold_argv(w, model, choice)))
    have = view["Collateral"]["ngonka"] or 0
    if w.collateral and have < w.collateral:
        missing = w.collateral - have
        argv = txs.collateral_argv(missing, w.cold_key_name, w.cold_keyring_backend, w.chain_id,
                                   w.node)
        if pending := unresolved(view, sent, "collateral"):
            out.stop.append(stop_message(pending, argv))
        elif not view.registered:
            out.blocked.append(f"collateral deposit of {coin(missing)} waits for the "
                               "registration")
        else:
            out.send.append(Tx("collateral", "cold", ngonka=missing, argv=argv))
    return out


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool | None             # None: a warning with its fix
    detail: str
    fix: list[str] = field(default_factory=list)   # commands (shell text)


def _poc_items(w: Wanted, view: View, warm: str | None) -> list[Item]:
    params = view["ChainParams"]
    none_cost = f"{(params['no_participation_penalty'] or 0.15) * 100:g} %"
    refuse_cost = f"{(params['refusal_penalty'] or 0.10) * 100:g} %"
    items = []
    for model in chain_poc_models(view):
        have, want = recorded(view, model), w.choices.get(model)
        name = f"poc {model}"
        if want is None:
            items.append(Item(name, None, f"a PoC model on chain with no choice in the "
                              f"inventory (chain: {describe(have)}); nothing costs {none_cost} "
                              "of weight per epoch: set poc_participation",
                              [txs.text(cold_argv(w, model, "refuse"))]))
        elif have == want:
            cost = f" ({refuse_cost} of weight per epoch)" if want == "refuse" else ""
            items.append(Item(name, True, f"{describe(have)} on chain{cost}"))
        else:
            fix = [txs.text(cold_argv(w, model, want))]
            if want == "run" and warm:
                fix.insert(0, "re-run the deploy (its warm key declares the intent), or:")
            cost = f" (nothing costs {none_cost} of weight per epoch)" if have is None else ""
            items.append(Item(name, None, f"chain holds {describe(have)}, the inventory wants "
                              f"{describe(want)}{cost}", fix))
    return items


def _collateral_item(w: Wanted, view: View, weight: int) -> Item:
    params = view["ChainParams"]
    have = view["Collateral"]["ngonka"] or 0
    base = params["base_weight_ratio"]
    per_unit = params["collateral_per_weight_unit"]
    required = int(weight * (1 - base) * per_unit + 0.999999) \
        if weight and base is not None and per_unit is not None else None
    target = w.collateral or required
    need = f"; the minimum for weight {weight} is {coin(required)}" if required else ""
    args = (w.cold_key_name, w.cold_keyring_backend, w.chain_id, w.node)
    if have and (target is None or have >= target):
        return Item("collateral", True, f"{coin(have)} deposited{need}")
    if target:
        fix = [txs.text(txs.collateral_argv(target - have, *args))]
    else:
        fix = ["set `collateral` in host data (minimum: weight x (1 - base_weight_ratio) x "
               "collateral_per_weight_unit, once the host has weight)"]
    head = f"{coin(have)} deposited" if have else "none deposited"
    base_share = f"{(base if base is not None else 0.2) * 100:g} %"
    return Item("collateral", None, f"{head}, want {coin(target) if target else 'some'}{need}: "
                f"without it only the base weight ({base_share}) counts", fix)


def _grant_item(w: Wanted, view: View, warm: str | None) -> Item:
    if not warm:
        return Item("fee_grant", None, "the warm key does not exist yet: the grant follows it",
                    [])
    now = view["ChainStatus"]["time"]
    allowance, grants = view["FeeAllowance"], view["AuthzGrants"]["grants"]
    args = (w.cold_key_name, w.cold_keyring_backend, w.chain_id, w.node)
    if not allowance["found"]:
        return Item("fee_grant", None, f"no fee grant from {w.cold_address} to {warm}: warm-key "
                    "transactions cannot pay their fees", [txs.text(grant_argv(w, warm))])
    problems, fix = [], []
    left = days_left(allowance["expiration"], now)
    if left is not None and left < w.fee_grant_min_days:
        problems.append(f"the fee grant expires in {max(left, 0):.0f} day(s) "
                        f"({allowance['expiration']}; at least {w.fee_grant_min_days} wanted)")
        fix += [txs.text(txs.revoke_allowance_argv(w.cold_address, warm, *args)),
                txs.text(grant_argv(w, warm))]
    for msg in (CLAIM_MSG, INTENT_MSG):
        if msg not in grants:
            problems.append(f"no authz grant for {msg}")
        elif (until := days_left(grants[msg], now)) is not None and \
                until < w.fee_grant_min_days:
            problems.append(f"the authz grant for {msg} expires in {max(until, 0):.0f} day(s)")
    if any("authz" in p for p in problems) and txs.text(grant_argv(w, warm)) not in fix:
        fix.append(txs.text(grant_argv(w, warm)))
    spend = allowance["spend_limit"]
    limit = "unlimited" if spend is None else f"{gnk(spend)} left"
    expiry = allowance["expiration"] or "never"
    if problems:
        return Item("fee_grant", None, "; ".join(problems) + f" (spend limit {limit})", fix)
    return Item("fee_grant", True, f"fee grant {limit}, until {expiry}; authz grants in place")


def _balance_item(w: Wanted, view: View) -> Item:
    have = view["Spendable"]["ngonka"]
    if have >= w.cold_balance_min:
        return Item("cold_balance", True, f"{gnk(have)} spendable on {w.cold_address}")
    return Item("cold_balance", None, f"{gnk(have)} spendable on {w.cold_address}, below "
                f"{gnk(w.cold_balance_min)}: it pays every fee since v0.2.16 (vesting coins "
                "cannot)", [txs.text(txs.fund_argv(w.cold_address, w.cold_balance_min - have,
                                                   w.chain_id, w.node))])


def _weight_item(w: Wanted, view: View) -> tuple[Item, int]:
    epoch = view["EpochWeights"]
    weight = epoch["weights"].get(w.cold_address, 0)
    if weight > 0:
        return Item("epoch_weight", True, f"weight {weight} in epoch {epoch['epoch_index']}"), \
            weight
    return Item("epoch_weight", None, f"weight 0 in epoch {epoch['epoch_index']}: the host is "
                "not in the current epoch's group (a new host joins at the next PoC its ML "
                "nodes take part in)", []), 0


def assess(w: Wanted, view: View, warm: str | None) -> list[Item]:
    """Every item of a host's participation: ok, or a warning with the command that fixes it."""
    if not view.registered:
        return [Item("participant", None, f"{w.cold_address} is not registered: participation "
                     "follows the registration", [])]
    weight_item, weight = _weight_item(w, view)
    return [*_poc_items(w, view, warm), _collateral_item(w, view, weight),
            _grant_item(w, view, warm), _balance_item(w, view), weight_item]
