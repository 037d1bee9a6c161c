"""Facts about a host's standing on the chain: PoC participation records, current epoch weight,
collateral, the cold->warm grants, the cold account's spendable coins, the chain's PoC models and
penalties. Each is one GET of the chain's REST (the gRPC gateway a seed serves as
``<seed>/chain-api/…``), made on the host and retried on transient answers (like ``HttpGet``).

Paths and JSON fields: gonka-ai/gonka@ee730031 inference-chain/proto/inference/inference/
query.proto (params l.48, current_epoch_group_data l.177, poc_delegation/{participant} l.455),
poc_delegation.proto (`delegations{model_id, delegator, delegate_to}`, `refusals{model_id,
participant}`, `intents{model_id, participant}`), params.proto (`poc_params.models[]{model_id,
penalty_start_epoch}`, `delegation_params{refusal_penalty, no_participation_penalty}`,
`collateral_params{base_weight_ratio, collateral_per_weight_unit}`), epoch_group_data.proto
(`validation_weights[]{member_address, weight}`, `epoch_index`), inference/collateral/query.proto
(`collateral/{participant}` -> `amount`); the SDK's `/cosmos/feegrant/v1beta1/allowance/{granter}/
{grantee}`, `/cosmos/authz/v1beta1/grants`, `/cosmos/bank/v1beta1/spendable_balances/{address}`.
The gateway writes 64-bit integers as strings and Gonka's Decimal as ``{value, exponent}``.

A read that fails sets ``error`` (with what answered): callers fail the host on it, it never
means "not there". "Not there" is only the chain's own answer for it: collateral `NotFound` (HTTP
404, "collateral not found for participant …", x/collateral keeper/query_server.go) and the fee
grant's "fee-grant not found" (cosmossdk.io/x/feegrant keeper: `ErrNotFound.Wrap("fee-grant not
found")`, returned by the query as gRPC Internal, HTTP 500).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from typing_extensions import override

from .gonka import HttpGet, parse_http


class PocModel(TypedDict):
    model_id: str
    penalty_start_epoch: int


class ChainParamsFact(TypedDict):
    error: str | None
    poc_models: list[PocModel]
    refusal_penalty: float | None
    no_participation_penalty: float | None
    base_weight_ratio: float | None
    collateral_per_weight_unit: float | None


class EpochWeightsFact(TypedDict):
    error: str | None
    epoch_index: int
    weights: dict[str, int]


class CollateralFact(TypedDict):
    error: str | None
    ngonka: int | None          # None: never deposited (the chain's NotFound)


class PocRecordsFact(TypedDict):
    error: str | None
    intents: list[str]
    delegations: dict[str, str]  # model -> delegate_to
    refusals: list[str]


class FeeAllowanceFact(TypedDict):
    error: str | None
    found: bool
    spend_limit: int | None     # remaining ngonka; None: unlimited
    expiration: str | None      # RFC 3339; None: never


class SpendableFact(TypedDict):
    error: str | None
    ngonka: int


class AuthzGrantsFact(TypedDict):
    error: str | None
    grants: dict[str, str | None]   # msg type URL -> expiration (None: never)


class ChainStatusFact(TypedDict):
    error: str | None
    height: int
    time: str


def failure(raw: dict[str, Any]) -> str:
    """What a failed read got, for the host's failure message."""
    tries = f"after {raw.get('attempts', 1)} attempt(s)"
    if not raw["status"]:
        return f"no answer {tries}"
    body = " ".join(str(raw.get("body") or "").split())[:200]
    return f"HTTP {raw['status']} {tries}: {body}"


def to_int(value) -> int:
    """A gateway integer: a number or a numeric string; missing or null is 0."""
    if value in (None, ""):
        return 0
    return int(str(value))


def to_decimal(value) -> float | None:
    """Gonka's Decimal ``{"value": "15", "exponent": -2}`` (or a plain number) -> 0.15."""
    if value is None:
        return None
    try:
        if isinstance(value, dict):
            return float(Decimal(str(value.get("value", 0))).scaleb(to_int(value.get("exponent"))))
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


class _ChainGet(HttpGet):
    """A GET of the chain's REST (``url``, ``attempts`` as ``HttpGet``), parsed by ``parse``."""

    @override
    def process(self, output: list[str]):
        raw = parse_http(output)
        if raw["status"] == 200 and isinstance(raw["json"], dict):
            return self.parse(raw["json"], raw)
        return self.absent(raw)

    def parse(self, doc: dict, raw: dict):  # pragma: no cover - every fact defines it
        raise NotImplementedError

    def absent(self, raw: dict):
        return self.empty(failure(raw))

    def empty(self, error: str | None):  # pragma: no cover
        raise NotImplementedError


class ChainParams(_ChainGet):
    """
    The chain's PoC models and the rules around them (``…/productscience/inference/inference/
    params``).

    .. code:: python

        {"error": None, "poc_models": [{"model_id": "MiniMaxAI/MiniMax-M2.7",
         "penalty_start_epoch": 0}], "refusal_penalty": 0.1, "no_participation_penalty": 0.15,
         "base_weight_ratio": 0.2, "collateral_per_weight_unit": 4.2}
    """

    def parse(self, doc, raw) -> ChainParamsFact:
        params = doc.get("params") or {}
        models = (params.get("poc_params") or {}).get("models") or []
        delegation = params.get("delegation_params") or {}
        collateral = params.get("collateral_params") or {}
        return {"error": None,
                "poc_models": [{"model_id": str(m.get("model_id", "")),
                                "penalty_start_epoch": to_int(m.get("penalty_start_epoch"))}
                               for m in models if m.get("model_id")],
                "refusal_penalty": to_decimal(delegation.get("refusal_penalty")),
                "no_participation_penalty": to_decimal(delegation.get("no_participation_penalty")),
                "base_weight_ratio": to_decimal(collateral.get("base_weight_ratio")),
                "collateral_per_weight_unit": to_decimal(
                    collateral.get("collateral_per_weight_unit"))}

    def empty(self, error) -> ChainParamsFact:
        return {"error": error, "poc_models": [], "refusal_penalty": None,
                "no_participation_penalty": None, "base_weight_ratio": None,
                "collateral_per_weight_unit": None}


class EpochWeights(_ChainGet):
    """
    Each member's weight in the current epoch (``…/current_epoch_group_data``).

    .. code:: python

        {"error": None, "epoch_index": 42, "weights": {"gonka1…": 1000}}
    """

    def parse(self, doc, raw) -> EpochWeightsFact:
        data = doc.get("epoch_group_data") or {}
        weights = {str(w.get("member_address")): to_int(w.get("weight"))
                   for w in data.get("validation_weights") or [] if w.get("member_address")}
        return {"error": None, "epoch_index": to_int(data.get("epoch_index")),
                "weights": weights}

    def empty(self, error) -> EpochWeightsFact:
        return {"error": error, "epoch_index": 0, "weights": {}}


class Collateral(_ChainGet):
    """
    The participant's deposited collateral in ngonka (``…/collateral/collateral/{participant}``);
    ``None`` when it never deposited any (the chain answers NotFound).

    .. code:: python

        {"error": None, "ngonka": 3360}
    """

    def parse(self, doc, raw) -> CollateralFact:
        amount = doc.get("amount") or {}
        if amount.get("denom") not in (None, "ngonka"):
            return self.empty(f"collateral in {amount.get('denom')!r}, not ngonka")
        return {"error": None, "ngonka": to_int(amount.get("amount"))}

    def absent(self, raw) -> CollateralFact:
        doc = raw["json"] if isinstance(raw["json"], dict) else {}
        if raw["status"] == 404 and "collateral not found" in str(doc.get("message", "")):
            return {"error": None, "ngonka": None}
        return self.empty(failure(raw))

    def empty(self, error) -> CollateralFact:
        return {"error": error, "ngonka": None}


class PocRecords(_ChainGet):
    """
    The participant's PoC records (``…/poc_delegation/{participant}``): the models it declared
    intent for, delegated (to whom) and refused.

    .. code:: python

        {"error": None, "intents": ["MiniMaxAI/MiniMax-M2.7"],
         "delegations": {"zai-org/GLM-5.3-Flash": "gonka1…"}, "refusals": []}
    """

    def parse(self, doc, raw) -> PocRecordsFact:
        return {"error": None,
                "intents": sorted({str(i.get("model_id")) for i in doc.get("intents") or []}),
                "delegations": {str(d.get("model_id")): str(d.get("delegate_to") or "")
                                for d in doc.get("delegations") or []},
                "refusals": sorted({str(r.get("model_id")) for r in doc.get("refusals") or []})}

    def empty(self, error) -> PocRecordsFact:
        return {"error": error, "intents": [], "delegations": {}, "refusals": []}


class FeeAllowance(_ChainGet):
    """
    The cold->warm fee grant (``/cosmos/feegrant/v1beta1/allowance/{granter}/{grantee}``): its
    remaining spend limit (ngonka, ``None`` = unlimited) and expiry.

    .. code:: python

        {"error": None, "found": True, "spend_limit": 10000000000,
         "expiration": "2027-11-30T10:00:00Z"}
    """

    # No grant: the gateway answers 500 with "fee-grant not found" (see the module's docstring),
    # a definite answer that is not retried.
    final_text = "fee-grant not found"

    def parse(self, doc, raw) -> FeeAllowanceFact:
        allowance = (doc.get("allowance") or {}).get("allowance") or {}
        # A filtered or periodic allowance wraps the basic one.
        basic = allowance.get("allowance") or allowance.get("basic") or allowance
        limits = basic.get("spend_limit") or []
        ngonka = [to_int(c.get("amount")) for c in limits if c.get("denom") == "ngonka"]
        spend = (ngonka[0] if ngonka else 0) if limits else None
        return {"error": None, "found": True, "spend_limit": spend,
                "expiration": basic.get("expiration") or None}

    def absent(self, raw) -> FeeAllowanceFact:
        doc = raw["json"] if isinstance(raw["json"], dict) else {}
        if raw["status"] in (404, 500) and "fee-grant not found" in str(doc.get("message", "")):
            return {"error": None, "found": False, "spend_limit": None, "expiration": None}
        return self.empty(failure(raw))

    def empty(self, error) -> FeeAllowanceFact:
        return {"error": error, "found": False, "spend_limit": None, "expiration": None}


class Spendable(_ChainGet):
    """
    An account's spendable ngonka (``/cosmos/bank/v1beta1/spendable_balances/{address}``):
    vesting coins cannot pay a fee.

    .. code:: python

        {"error": None, "ngonka": 25000000000}
    """

    def parse(self, doc, raw) -> SpendableFact:
        coins = doc.get("balances") or []
        return {"error": None, "ngonka": sum(to_int(c.get("amount")) for c in coins
                                             if c.get("denom") == "ngonka")}

    def empty(self, error) -> SpendableFact:
        return {"error": error, "ngonka": 0}


class AuthzGrants(_ChainGet):
    """
    The authz grants of one granter to one grantee (``/cosmos/authz/v1beta1/grants?granter=…
    &grantee=…``), by message type URL, with their expiry.

    .. code:: python

        {"error": None, "grants": {"/inference.inference.MsgDeclarePoCIntent":
                                   "2027-11-30T10:00:00Z"}}
    """

    def parse(self, doc, raw) -> AuthzGrantsFact:
        grants: dict[str, str | None] = {}
        for grant in doc.get("grants") or []:
            auth = grant.get("authorization") or {}
            if auth.get("msg"):
                grants[str(auth["msg"])] = grant.get("expiration") or None
        return {"error": None, "grants": grants}

    def empty(self, error) -> AuthzGrantsFact:
        return {"error": error, "grants": {}}


class ChainStatus(_ChainGet):
    """
    The chain's latest height and block time (CometBFT ``/status`` of the chain RPC): a grant's
    expiry is compared to the chain's clock, not to this machine's.

    .. code:: python

        {"error": None, "height": 6500000, "time": "2026-11-30T10:00:00.123456789Z"}
    """

    def parse(self, doc, raw) -> ChainStatusFact:
        info = (doc.get("result") or doc).get("sync_info") or {}
        if not info.get("latest_block_time"):
            return self.empty("no sync_info.latest_block_time in the chain RPC's /status")
        return {"error": None, "height": to_int(info.get("latest_block_height")),
                "time": str(info["latest_block_time"])}

    def empty(self, error) -> ChainStatusFact:
        return {"error": error, "height": 0, "time": ""}
