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

Every answer is parsed into its query's shape (the pydantic models below) first: a 200 whose
body does not match (``{}``, an error body, a renamed field) is a failed read naming the field.
A read that fails sets ``error`` (with what answered): callers fail the host on it, it never
means "not there". "Not there" is only the chain's own answer for it: collateral `NotFound` (HTTP
404, "collateral not found for participant …", x/collateral keeper/query_server.go) and the fee
grant's "fee-grant not found" (cosmossdk.io/x/feegrant keeper: `ErrNotFound.Wrap("fee-grant not
found")`, returned by the query as gRPC Internal, HTTP 500).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
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


class TxResultFact(TypedDict):
    error: str | None
    found: bool                 # False: the chain's definite "tx not found"
    height: int
    code: int                   # 0: applied; anything else: the chain rejected it
    raw_log: str


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


# --- the shapes of the chain's answers -------------------------------------------------------
# Every answer is parsed into one of these before anything is decided from it: ``extra`` is
# allowed (a newer chain adds fields), but a field the decision reads is required, so `{}`, an
# error body sent with 200 or a renamed field is a failed read naming the field, never "none",
# "0" or "unlimited". The gateway marshals with ``EmitDefaults: true`` (cosmos/cosmos-sdk
# v0.50 server/api/server.go, ``gateway.JSONPb{EmitDefaults: true, OrigName: true}``): empty
# lists come as ``[]`` and unset messages as ``null``, so a field that is absent is a shape this
# code does not know.


def _gateway_int(value: Any) -> int:
    """A 64-bit integer as the gateway writes it: a JSON number or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("not an integer or a string of digits")
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        raise ValueError(f"{value[:40]!r} is not a number")
    return int(value)


GatewayInt = Annotated[int, BeforeValidator(_gateway_int)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Decimal(_Shape):
    """Gonka's Decimal (inference/params.proto ``Decimal{int64 value; int32 exponent}``)."""

    value: GatewayInt
    exponent: int

    def number(self) -> float:
        return float(Decimal(self.value).scaleb(self.exponent))


class _Coin(_Shape):
    denom: str
    amount: GatewayInt


class _PocModelShape(_Shape):
    model_id: str
    penalty_start_epoch: GatewayInt


class _PocParamsShape(_Shape):
    models: list[_PocModelShape]


class _DelegationParamsShape(_Shape):
    refusal_penalty: _Decimal | None = None
    no_participation_penalty: _Decimal | None = None


class _CollateralParamsShape(_Shape):
    base_weight_ratio: _Decimal | None
    collateral_per_weight_unit: _Decimal | None


class _ParamsShape(_Shape):
    poc_params: _PocParamsShape
    collateral_params: _CollateralParamsShape
    delegation_params: _DelegationParamsShape | None = None  # display only (a penalty's cost)


class ParamsAnswer(_Shape):
    """``GET …/productscience/inference/inference/params`` (QueryParamsResponse)."""

    params: _ParamsShape


class _WeightShape(_Shape):
    member_address: str
    weight: GatewayInt


class _EpochGroupShape(_Shape):
    epoch_index: GatewayInt
    validation_weights: list[_WeightShape]


class EpochGroupAnswer(_Shape):
    """``GET …/current_epoch_group_data`` (epoch_group_data.proto)."""

    epoch_group_data: _EpochGroupShape


class CollateralAnswer(_Shape):
    """``GET …/collateral/collateral/{participant}`` (inference/collateral/query.proto)."""

    amount: _Coin


class _ModelRecord(_Shape):
    model_id: str


class _DelegationRecord(_Shape):
    model_id: str
    delegate_to: str


class PocRecordsAnswer(_Shape):
    """``GET …/poc_delegation/{participant}`` (poc_delegation.proto)."""

    intents: list[_ModelRecord]
    delegations: list[_DelegationRecord]
    refusals: list[_ModelRecord]


class _BasicAllowanceShape(_Shape):
    spend_limit: list[_Coin]                 # [] = unlimited (feegrant.proto BasicAllowance)
    expiration: str | None                   # null = never


class _AllowanceAny(_Shape):
    type_url: str = Field(alias="@type")


class _GrantShape(_Shape):
    allowance: _AllowanceAny


class AllowanceAnswer(_Shape):
    """``GET /cosmos/feegrant/v1beta1/allowance/{granter}/{grantee}`` (cosmos-sdk v0.50
    x/feegrant/proto/cosmos/feegrant/v1beta1/query.proto ``QueryAllowanceResponse{Grant
    allowance}``, feegrant.proto ``Grant{granter, grantee, Any allowance}``)."""

    allowance: _GrantShape


# The allowance types of x/feegrant (feegrant.proto): the basic one, a periodic one (its
# ``basic``), a message filter around either (its ``allowance``).
BASIC_ALLOWANCE = "/cosmos.feegrant.v1beta1.BasicAllowance"
PERIODIC_ALLOWANCE = "/cosmos.feegrant.v1beta1.PeriodicAllowance"
FILTERED_ALLOWANCE = "/cosmos.feegrant.v1beta1.AllowedMsgAllowance"


def basic_allowance(node: dict, where: str = "allowance.allowance") -> _BasicAllowanceShape:
    """The BasicAllowance inside an allowance Any (unwrapping a filter or a period)."""
    kind = _AllowanceAny.model_validate(node).type_url
    if kind == BASIC_ALLOWANCE:
        return _BasicAllowanceShape.model_validate(node)
    if kind == PERIODIC_ALLOWANCE and isinstance(node.get("basic"), dict):
        return _BasicAllowanceShape.model_validate(node["basic"])
    if kind == FILTERED_ALLOWANCE and isinstance(node.get("allowance"), dict):
        return basic_allowance(node["allowance"], f"{where}.allowance")
    raise ShapeError(f"`{where}` is a {kind!r}, not an allowance this toolkit reads")


class _Balances(_Shape):
    """``GET /cosmos/bank/v1beta1/spendable_balances/{address}`` (cosmos-sdk v0.50
    x/bank/proto/cosmos/bank/v1beta1/query.proto ``QuerySpendableBalancesResponse``)."""

    balances: list[_Coin]


class _Authorization(_Shape):
    type_url: str = Field(alias="@type")
    msg: str | None = None                   # GenericAuthorization's message type URL


class _AuthzGrant(_Shape):
    authorization: _Authorization
    expiration: str | None


class AuthzAnswer(_Shape):
    """``GET /cosmos/authz/v1beta1/grants?granter=&grantee=`` (cosmos-sdk v0.50
    x/authz/proto/cosmos/authz/v1beta1/query.proto ``QueryGrantsResponse{repeated Grant}``,
    authz.proto ``Grant{Any authorization, Timestamp expiration}``)."""

    grants: list[_AuthzGrant]


class _SyncInfo(_Shape):
    latest_block_height: GatewayInt
    latest_block_time: str


class _StatusResult(_Shape):
    sync_info: _SyncInfo


class StatusAnswer(_Shape):
    """CometBFT ``/status`` (JSON-RPC over GET: ``{"result": {"sync_info": …}}``)."""

    result: _StatusResult


class _TxResponseShape(_Shape):
    height: GatewayInt
    txhash: str
    code: int
    raw_log: str = ""


class TxAnswer(_Shape):
    """``GET /cosmos/tx/v1beta1/txs/{hash}`` (cosmos-sdk v0.50 proto/cosmos/tx/v1beta1/
    service.proto ``GetTxResponse{tx, tx_response}``, abci.proto ``TxResponse{height, txhash,
    code, raw_log, …}``)."""

    tx_response: _TxResponseShape


class ShapeError(ValueError):
    """An answer of the chain that does not have the shape its query returns."""


def shape_error(exc: ValidationError) -> str:
    """The first field that did not match, for the host's failure message."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(the document)"
    if first["type"] == "missing":
        return f"the answer has no `{where}`"
    if first["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return f"`{where}` is not an object"
    if first["type"] == "list_type":
        return f"`{where}` is not a list"
    return f"`{where}` is not what the chain sends ({first['msg']})"


class _ChainGet(HttpGet):
    """A GET of the chain's REST (``url``, ``attempts`` as ``HttpGet``), parsed by ``parse``.

    200 with a JSON object that does not parse into the query's shape is an error naming the
    field; so is any other answer, except the chain's own definite "not there" (``absent``)."""

    @override
    def process(self, output: list[str]):
        raw = parse_http(output)
        if raw["status"] == 200 and isinstance(raw["json"], dict):
            try:
                return self.parse(raw["json"], raw)
            except ValidationError as exc:
                return self.empty(f"HTTP 200 with an unexpected shape: {shape_error(exc)}")
            except ShapeError as exc:
                return self.empty(f"HTTP 200 with an unexpected shape: {exc}")
        if raw["status"] == 200:
            return self.empty("HTTP 200 without a JSON object: "
                              + " ".join(str(raw.get("body") or "").split())[:200])
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
        params = ParamsAnswer.model_validate(doc).params
        delegation = params.delegation_params or _DelegationParamsShape()
        collateral = params.collateral_params

        def number(value: _Decimal | None) -> float | None:
            return value.number() if value is not None else None

        return {"error": None,
                "poc_models": [{"model_id": m.model_id,
                                "penalty_start_epoch": m.penalty_start_epoch}
                               for m in params.poc_params.models if m.model_id],
                "refusal_penalty": number(delegation.refusal_penalty),
                "no_participation_penalty": number(delegation.no_participation_penalty),
                "base_weight_ratio": number(collateral.base_weight_ratio),
                "collateral_per_weight_unit": number(collateral.collateral_per_weight_unit)}

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
        data = EpochGroupAnswer.model_validate(doc).epoch_group_data
        weights = {w.member_address: w.weight for w in data.validation_weights
                   if w.member_address}
        return {"error": None, "epoch_index": data.epoch_index, "weights": weights}

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
        amount = CollateralAnswer.model_validate(doc).amount
        if amount.denom != "ngonka":
            return self.empty(f"collateral in {amount.denom!r}, not ngonka")
        return {"error": None, "ngonka": amount.amount}

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
        records = PocRecordsAnswer.model_validate(doc)
        return {"error": None,
                "intents": sorted({i.model_id for i in records.intents}),
                "delegations": {d.model_id: d.delegate_to for d in records.delegations},
                "refusals": sorted({r.model_id for r in records.refusals})}

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
        AllowanceAnswer.model_validate(doc)
        node = doc["allowance"]["allowance"]
        try:
            basic = basic_allowance(node)
        except ValidationError as exc:
            raise ShapeError(f"in `allowance.allowance`: {shape_error(exc)}") from None
        limits = basic.spend_limit
        ngonka = [c.amount for c in limits if c.denom == "ngonka"]
        # a limit in other denoms only leaves nothing in ngonka; no limit at all is unlimited
        spend = (ngonka[0] if ngonka else 0) if limits else None
        return {"error": None, "found": True, "spend_limit": spend,
                "expiration": basic.expiration or None}

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
        coins = _Balances.model_validate(doc).balances
        return {"error": None, "ngonka": sum(c.amount for c in coins if c.denom == "ngonka")}

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
        for grant in AuthzAnswer.model_validate(doc).grants:
            if grant.authorization.msg:
                grants[grant.authorization.msg] = grant.expiration or None
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
        info = StatusAnswer.model_validate(doc).result.sync_info
        if not info.latest_block_time:
            return self.empty("an empty sync_info.latest_block_time in the chain RPC's /status")
        return {"error": None, "height": info.latest_block_height,
                "time": info.latest_block_time}

    def empty(self, error) -> ChainStatusFact:
        return {"error": error, "height": 0, "time": ""}


class TxResult(_ChainGet):
    """
    One transaction by its hash (``/cosmos/tx/v1beta1/txs/{hash}``): in a block (its height and
    code) or definitely not there: the SDK's GetTx answers NotFound, "tx not found: <hash>"
    (cosmos/cosmos-sdk v0.50 x/auth/tx/service.go ``GetTx``), HTTP 404. Any other answer is an
    error: it never reads as "not sent".

    .. code:: python

        {"error": None, "found": True, "height": 6500001, "code": 0, "raw_log": ""}
    """

    def parse(self, doc, raw) -> TxResultFact:
        response = TxAnswer.model_validate(doc).tx_response
        if response.height <= 0:
            return self.empty(f"tx {response.txhash} answered without a block height")
        return {"error": None, "found": True, "height": response.height, "code": response.code,
                "raw_log": response.raw_log}

    def absent(self, raw) -> TxResultFact:
        doc = raw["json"] if isinstance(raw["json"], dict) else {}
        if raw["status"] == 404 and "tx not found" in str(doc.get("message", "")):
            return {"error": None, "found": False, "height": 0, "code": 0, "raw_log": ""}
        return self.empty(failure(raw))

    def empty(self, error) -> TxResultFact:
        return {"error": error, "found": False, "height": 0, "code": 0, "raw_log": ""}
