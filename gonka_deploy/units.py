"""Amounts of the chain's coin. Transactions use ngonka only; operators think in GNK.

"Transactions must use ngonka, not GNK. `1 GNK = 1,000,000,000 ngonka`"
(gonka-ai/gonka-docs@570482bcf738080a41dbcc08ff051c07ec14baae:docs/FAQ.md); collateral accepts
ngonka only ("only %s denomination is accepted for collateral", gonka-ai/gonka@ee730031:
inference-chain/x/collateral/keeper/msg_server_deposit_collateral.go).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

DENOM = "ngonka"
NGONKA_PER_GNK = 1_000_000_000
AMOUNT_RE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")


def parse_ngonka(value) -> int:
    """``"3360ngonka"``, ``"3360 ngonka"``, ``"5 GNK"``, ``"0.5GNK"`` -> ngonka (int). A bare
    number is refused: an amount without its unit is off by a factor of 10^9 one way or the
    other."""
    if isinstance(value, bool) or isinstance(value, int | float):
        raise ValueError(f"{value!r} has no unit: write '{value}ngonka' or '{value} GNK' "
                         "(1 GNK = 1,000,000,000 ngonka)")
    match = AMOUNT_RE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not an amount like '3360ngonka' or '5 GNK'")
    number, unit = match.group(1).replace("_", ""), match.group(2)
    try:
        amount = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"{value!r}: {number!r} is not a number") from exc
    if unit == DENOM:
        scaled = amount
    elif unit.upper() == "GNK":
        scaled = amount * NGONKA_PER_GNK
    else:
        raise ValueError(f"{value!r}: unit {unit!r} is neither 'ngonka' nor 'GNK'")
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of ngonka")
    if scaled <= 0:
        raise ValueError(f"{value!r} must be more than 0")
    return int(scaled)


def normalize(value) -> str:
    """An amount with its unit -> ``"<n>ngonka"``: what the schema keeps, so that a config
    dumped and validated again means the same (a bare number never does)."""
    return coin(parse_ngonka(value))


def gnk(ngonka: int) -> str:
    """``12_500_000_000`` -> ``"12.5 GNK"`` (for people; transactions use ngonka)."""
    whole, frac = divmod(int(ngonka), NGONKA_PER_GNK)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return f"{text} GNK"


def coin(ngonka: int) -> str:
    """The chain's coin string: ``"3360ngonka"``."""
    return f"{int(ngonka)}{DENOM}"
