"""Facts about files the toolkit manages: mode, owner, a hash and the content in one read.

A file that holds a secret is never read back whole: its hash is computed on the host, and the
value of each of its secret variables (``[export ]NAME=…`` lines) is masked on the host before
the content travels, so a diff can still be shown and no output at any verbosity carries it.
"""

from __future__ import annotations

import base64
import re
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

MASK = "*****"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Runs as `sh -c SCRIPT _ PATH NAMES`: prints `mode owner`, the sha256 of the file, then its
# content base64 (any byte survives the trip) with the values of the NAMES (an alternation of
# variable names, or empty) masked: `NAME=value` (shell, dotenv) and `  NAME: value` (YAML, as
# alertmanager.yml's bot_token) lines.
STAT_SCRIPT = r"""
[ -f "$1" ] || { echo absent; exit 0; }
stat -c '%a %U:%G' "$1"
sha256sum < "$1" | cut -d' ' -f1
if [ -n "$2" ]; then
  sed -E -e "s/^((export[[:space:]]+)?($2)=).*/\1*****/" \
    -e "s/^([[:space:]-]*($2):[[:space:]]).*/\1*****/" "$1" | base64 -w0
else
  base64 -w0 "$1"
fi
echo
"""


class ManagedFileDict(TypedDict):
    mode: int
    owner: str
    sha256: str
    content: str  # secret variables masked when the fact was asked to mask them


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

        {"mode": 0o600, "owner": "root:root", "sha256": "9f86d0…",
         "content": "export KEY_NAME=fra-01\\nexport KEYRING_PASSWORD=*****\\n"}
    """

    @override
    def command(self, path: str, masked: tuple[str, ...] = ()) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(STAT_SCRIPT), "_", QuoteString(path),
                             QuoteString(mask_names(masked)))

    @override
    def process(self, output: list[str]) -> ManagedFileDict | None:
        if not output or output[0] == "absent":
            return None
        mode, owner = output[0].split(" ", 1)
        digest = output[1].strip() if len(output) > 1 else ""
        raw = base64.b64decode(output[2]) if len(output) > 2 else b""
        return ManagedFileDict(mode=int(mode, 8), owner=owner, sha256=digest,
                               content=raw.decode("utf-8", errors="replace"))
