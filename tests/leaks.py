"""Find a secret in text in any of the forms it could leak in: plain, shell- and JSON-quoted,
URL-encoded, hex, and base64 (standard and URL-safe) at each of the three alignments it can have
inside a longer encoded stream (`base64 -w0 config.env` shows a password at an offset)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

from gonka_deploy.render import dotenv_quote, sh_quote


def _base64_cores(raw: bytes) -> set[str]:
    """The part of base64(x + raw + y) that depends on ``raw`` alone, for each length of x mod
    3: the 4-character groups that hold only bytes of ``raw``."""
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start = 4 if pad else 0                         # the first group mixes in x
        end = ((pad + len(raw)) // 3) * 4               # a trailing partial group mixes in y
        core = encoded[start:end]
        if len(core) >= 8:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def forms(secret: str) -> set[str]:
    """Every form of ``secret`` worth searching for (each at least 8 characters)."""
    raw = secret.encode()
    found = {secret, sh_quote(secret), dotenv_quote(secret), json.dumps(secret)[1:-1],
             quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    found |= _base64_cores(raw)
    # the longest run without quoting-sensitive characters, in case the secret travels quoted
    # some other way
    runs = re.findall(r"[A-Za-z0-9_.,:@%+=-]+", secret)
    if runs:
        found.add(max(runs, key=len))
    return {f for f in found if len(f) >= 8}


def leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """``where: secret name (form)`` for each secret form found in each named text."""
    out = []
    for what, secret in secrets.items():
        for form in sorted(forms(secret)):
            for where, text in texts.items():
                if form in text:
                    out.append(f"{where}: {what} ({form[:6]}…)")
    return out


def local_files(root: Path, designated: set[Path] = frozenset()) -> dict[str, str]:
    """The text of every file under ``root`` but the ``designated`` (0600) ones, by path."""
    return {str(p): p.read_text(errors="replace") for p in sorted(root.rglob("*"))
            if p.is_file() and p not in designated}
