"""Facts about files the toolkit manages: mode, owner, a hash and the content in one read.

A file that holds a secret is never read back whole: the value of each of its secret variables
(``[export ]NAME=…`` lines) is masked on the host before the content travels, so a diff can
still be shown, and its digest is keyed (:mod:`..hostside.filedigest`: an HMAC under a key
agreed by Diffie-Hellman with this run, in no log), so that no output at any verbosity carries
the secret or a hash to test guesses of it against.
"""

from __future__ import annotations

import base64
import hmac
import re
from functools import cache
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import filedigest, source

MASK = "*****"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Runs as `sh -c SCRIPT _ PATH NAMES [PEER DIGEST_SCRIPT]`: prints `mode owner`, the digest of
# the file, then its content base64 (any byte survives the trip) with the values of the NAMES
# (an alternation of variable names, or empty) masked: `NAME=value` (shell, dotenv) and
# `  NAME: value` (YAML, as alertmanager.yml's bot_token) lines. The digest is the sha256 of a
# file without NAMES; with NAMES it is keyed (`dh:OWN:MAC`, DIGEST_SCRIPT run with PEER, the
# run's public value), or `nodigest` when python3 cannot make it (the file is then rewritten).
STAT_SCRIPT = r"""
[ -f "$1" ] || { echo absent; exit 0; }
stat -c '%a %U:%G' "$1"
if [ -z "$2" ]; then
  sha256sum < "$1" | cut -d' ' -f1
elif [ -n "$4" ] && d=$(python3 -c "$4" "$1" "$3" 2>/dev/null) && [ -n "$d" ]; then
  echo "$d"
else
  echo nodigest
fi
if [ -n "$2" ]; then
  sed -E -e "s/^((export[[:space:]]+)?($2)=).*/\1*****/" \
    -e "s/^([[:space:]-]*($2):[[:space:]]).*/\1*****/" "$1" | base64 -w0
else
  base64 -w0 "$1"
fi
echo
"""


DIGEST_SCRIPT = source("filedigest.py")


class ManagedFileDict(TypedDict):
    mode: int
    owner: str
    sha256: str   # of the file; "" when it was read masked (see ``keyed``)
    keyed: str    # read masked: `dh:OWN:MAC` (:func:`keyed_matches`), or "nodigest"; else ""
    content: str  # secret variables masked when the fact was asked to mask them


@cache
def _run_exponent() -> int:
    """This run's Diffie-Hellman exponent: in memory only, one per process (the facts of a
    run keep one command each, so that the fact cache can reuse them)."""
    return filedigest.private_exponent()


def run_public() -> str:
    return f"{filedigest.public_value(_run_exponent()):x}"


def keyed_matches(keyed: str, text: str) -> bool:
    """Whether a masked read's ``keyed`` digest is the one of ``text``; False for anything that
    is not a well-formed digest of this run (the file is rewritten, never kept on a doubt)."""
    prefix, _, rest = (keyed or "").partition(":")
    peer, _, got = rest.partition(":")
    if prefix != filedigest.PREFIX or not re.fullmatch(r"[0-9a-f]{64}", got):
        return False
    try:
        key = filedigest.shared_key(filedigest.parse_public(peer), _run_exponent())
    except ValueError:
        return False
    return hmac.compare_digest(filedigest.mac(key, text.encode()), got)


def mask_names(names: list[str] | tuple[str, ...]) -> str:
    """The sed alternation of variable names; a name must be a plain identifier."""
    for name in names:
        if not NAME_RE.match(name):
            raise ValueError(f"not a variable name: {name!r}")
    return "|".join(names)


def masked(text: str, names: list[str] | tuple[str, ...]) -> str:
    """What the host's sed makes of ``text``: the controller-side twin, for comparisons."""
    if not names:
        return text
    alternation = mask_names(names)
    pattern = re.compile(rf"^((?:export[ \t]+)?(?:{alternation})=).*$", re.M)
    text = pattern.sub(lambda m: m.group(1) + MASK, text)
    yaml_key = re.compile(rf"^([ \t-]*(?:{alternation}):[ \t]).*$", re.M)
    return yaml_key.sub(lambda m: m.group(1) + MASK, text)


class ManagedFile(FactBase[ManagedFileDict | None]):
    """
    Returns a file's mode, owner, sha256 and text content, or None when it does not exist.
    ``masked`` names variables whose values are masked on the host before the content is sent.

    .. code:: python

        {"mode": 0o600, "owner": "root:root", "sha256": "", "keyed": "dh:8c1f…:9f86d0…",
         "content": "export KEY_NAME=fra-01\\nexport KEYRING_PASSWORD=*****\\n"}
    """

    @override
    def command(self, path: str, masked: tuple[str, ...] = (),
                public: str | None = None) -> StringCommand:
        args = [QuoteString(path), QuoteString(mask_names(masked))]
        if masked:
            args += [QuoteString(public or run_public()), QuoteString(DIGEST_SCRIPT)]
        return StringCommand("sh", "-c", QuoteString(STAT_SCRIPT), "_", *args)

    @override
    def process(self, output: list[str]) -> ManagedFileDict | None:
        if not output or output[0] == "absent":
            return None
        mode, owner = output[0].split(" ", 1)
        digest = output[1].strip() if len(output) > 1 else ""
        keyed = digest.startswith(f"{filedigest.PREFIX}:") or digest == "nodigest"
        raw = base64.b64decode(output[2]) if len(output) > 2 else b""
        return ManagedFileDict(mode=int(mode, 8), owner=owner,
                               sha256="" if keyed else digest, keyed=digest if keyed else "",
                               content=raw.decode("utf-8", errors="replace"))
