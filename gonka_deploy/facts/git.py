"""Facts about a git clone and a remote ref."""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import retrying

CHECKOUT_SCRIPT = r"""
[ -d "$1/.git" ] || { echo exists=0; exit 0; }
echo exists=1
echo "head=$(git -C "$1" rev-parse HEAD 2>/dev/null)"
echo "origin=$(git -C "$1" config --get remote.origin.url)"
git -C "$1" status --porcelain --untracked-files=no | sed 's/^/dirty=/'
"""


class GitCheckoutDict(TypedDict):
    exists: bool
    head: str | None
    origin: str | None
    dirty: list[str]


class GitCheckout(FactBase[GitCheckoutDict]):
    """
    Returns the state of a clone: HEAD commit, origin URL and tracked files with local edits.

    .. code:: python

        {"exists": True, "head": "8a35022b…", "origin": "https://github.com/gonka-ai/gonka.git",
         "dirty": ["deploy/join/node-config.json"]}
    """

    @override
    def requires_command(self, path: str) -> str:
        return "git"

    @override
    def command(self, path: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(CHECKOUT_SCRIPT), "_", QuoteString(path))

    @override
    def process(self, output: list[str]) -> GitCheckoutDict:
        info = GitCheckoutDict(exists=False, head=None, origin=None, dirty=[])
        for line in output:
            key, _, value = line.partition("=")
            if key == "exists":
                info["exists"] = value == "1"
            elif key == "head":
                info["head"] = value or None
            elif key == "origin":
                info["origin"] = value or None
            elif key == "dirty":
                info["dirty"].append(value[3:].strip())
        return info


class GitRemoteRef(FactBase[str | None]):
    """
    Returns the commit a branch or tag of a remote points at (None when absent).
    A 40-hex ``ref`` is already a commit; the remote is not asked.
    """

    @override
    def requires_command(self, url: str, ref: str) -> str:
        return "git"

    @override
    def command(self, url: str, ref: str) -> StringCommand:
        return retrying("git", "ls-remote", QuoteString(url), QuoteString(ref),
                        QuoteString(f"{ref}^{{}}"))

    @override
    def process(self, output: list[str]) -> str | None:
        # An annotated tag lists itself and its peeled commit (`ref^{}`): the peeled one wins.
        found = {}
        for line in output:
            sha, _, name = line.partition("\t")
            found[name] = sha
        peeled = [sha for name, sha in found.items() if name.endswith("^{}")]
        return peeled[0] if peeled else next(iter(found.values()), None)
