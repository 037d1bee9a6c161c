"""Facts for the guarded MLNode image swap: the epoch phase the api reports.

Sources: upstream gonka-ai/gonka main as carried by ``kaitakuai/gonka@ee730031``:
``decentralized-api/internal/server/public/get_epoch.go`` (``GET /v1/epochs/latest``: only
``latest``; ``block_height``, ``latest_epoch``, ``phase``, ``epoch_stages``, ``next_epoch_stages``,
``epoch_params``, ``is_confirmation_poc_active``), ``inference-chain/x/inference/types/
epoch_stages.go`` (absolute heights ``poc_start`` … ``poc_validation_end``, ``next_poc_start``)
and ``epoch_params.go`` (phases ``PoCGenerate``, ``PoCGenerateWindDown``, ``PoCValidate``,
``PoCValidateWindDown``, ``Inference``).
"""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from .gonka import HTTP_SCRIPT, parse_http

INFERENCE = "Inference"
# gonka-ai/gonka@6b9de5c3:test-net-cloud/nebius/docs/testnet-2.16-join-instruction.md: swap
# "during Inference phase (not mid-PoC)" and "proceed when phase is Inference and blocks_to_poc
# comfortably > 100" (blocks_to_poc = epoch_stages.next_poc_start - block_height).
MIN_BLOCKS_TO_POC = 100


class EpochDict(TypedDict):
    status: int                     # HTTP status of /v1/epochs/latest (0: nothing answered)
    phase: str | None
    block_height: int | None        # None when the answer lacks it (then no swap is allowed)
    next_poc_start: int | None
    poc_validation_end: int | None  # when the current epoch's PoC ends (Inference again)
    next_poc_validation_end: int | None
    confirmation_poc: bool          # is_confirmation_poc_active


def _int(value) -> int | None:
    # The api renders int64 as a number; chain REST renders it as a string: take both.
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def epoch_view(status: int, doc) -> EpochDict:
    """The parts of ``/v1/epochs/latest`` a swap decision needs."""
    doc = doc if isinstance(doc, dict) else {}
    stages = doc.get("epoch_stages") or {}
    following = doc.get("next_epoch_stages") or {}
    return EpochDict(
        status=status,
        phase=doc.get("phase") or None,
        block_height=_int(doc.get("block_height")),
        next_poc_start=_int(stages.get("next_poc_start")),
        poc_validation_end=_int(stages.get("poc_validation_end")),
        next_poc_validation_end=_int(following.get("poc_validation_end")),
        confirmation_poc=doc.get("is_confirmation_poc_active") is True,
    )


def swap_refusal(epoch: EpochDict, min_blocks: int) -> str | None:
    """Why an MLNode may not be taken out now, with when to retry; None when it may."""
    height = epoch["block_height"]
    if epoch["status"] != 200 or not epoch["phase"]:
        return (f"the api's epoch phase could not be read (/v1/epochs/latest answered "
                f"{epoch['status'] or 'nothing'}): not swapping blind; retry when the api answers")
    # Partial epoch data decides nothing: without the height or the next PoC's start, how far
    # the next PoC is cannot be told, so the swap is refused rather than allowed blind.
    missing = [name for name in ("block_height", "next_poc_start") if epoch[name] is None]
    if missing:
        return (f"the api's epoch answer (/v1/epochs/latest, phase {epoch['phase']}) lacks "
                f"{' and '.join(missing)}: not swapping blind; retry when the api reports them")
    if epoch["phase"] != INFERENCE:
        end = epoch["poc_validation_end"]
        when = (f"retry after height {end} (PoC validation ends, {end - height} blocks from now)"
                if end and end > height else "retry once the phase is Inference")
        return f"PoC is running (phase {epoch['phase']} at height {height}): {when}"
    if epoch["confirmation_poc"]:
        return (f"a confirmation PoC is active at height {height} "
                "(is_confirmation_poc_active): retry when it has ended")
    left = epoch["next_poc_start"] - height
    if left < min_blocks:
        after = epoch["next_poc_validation_end"]
        when = f"after height {after}, when that PoC's validation ends" if after else \
            "after that PoC"
        return (f"only {left} blocks to the next PoC (at height {epoch['next_poc_start']}, now "
                f"{height}; a swap needs at least {min_blocks}): retry {when}")
    return None


def describe(epoch: EpochDict) -> str:
    left = (f", {epoch['next_poc_start'] - epoch['block_height']} blocks to the next PoC"
            if epoch["next_poc_start"] is not None else "")
    return f"phase {epoch['phase']} at height {epoch['block_height']}{left}"


class EpochPhase(FactBase[EpochDict]):
    """
    Returns the epoch phase the api reports (``GET /v1/epochs/latest``), transient faults
    retried on the host. ``status`` 0 when the api does not answer.

    .. code:: python

        {"status": 200, "phase": "Inference", "block_height": 1200, "next_poc_start": 2000,
         "poc_validation_end": 1060, "next_poc_validation_end": 2060, "confirmation_poc": False}
    """

    @override
    def requires_command(self, url: str) -> str:
        return "curl"

    @override
    def command(self, url: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(HTTP_SCRIPT), "_", QuoteString(url), "3")

    @override
    def process(self, output: list[str]) -> EpochDict:
        got = parse_http(output)
        return epoch_view(got["status"], got["json"])
