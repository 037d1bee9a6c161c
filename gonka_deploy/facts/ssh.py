"""Facts about a login user's authorized keys."""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

KEYS_SCRIPT = r"""
home=$(getent passwd "$1" | cut -d: -f6)
[ -n "$home" ] || { echo nouser; exit 0; }
echo "home=$home"
echo "group=$(id -gn "$1")"
[ -f "$home/.ssh/authorized_keys" ] && sed 's/^/key=/' "$home/.ssh/authorized_keys"
[ -f "$home/.ssh/authorized_keys.gonka-deploy" ] && \
  sed 's/^/managed=/' "$home/.ssh/authorized_keys.gonka-deploy"
true
"""


class AuthorizedKeysDict(TypedDict):
    home: str
    group: str
    lines: list[str]
    managed: list[str]


class AuthorizedKeys(FactBase[AuthorizedKeysDict | None]):
    """
    Returns a user's home, primary group, ``authorized_keys`` lines, and the keys this toolkit
    added earlier (kept in ``authorized_keys.gonka-deploy``). None when the user does not exist.
    """

    @override
    def command(self, user: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(KEYS_SCRIPT), "_", QuoteString(user))

    @override
    def process(self, output: list[str]) -> AuthorizedKeysDict | None:
        if not output or output[0] == "nouser":
            return None
        info = AuthorizedKeysDict(home="", group="", lines=[], managed=[])
        for line in output:
            key, _, value = line.partition("=")
            if key == "home":
                info["home"] = value
            elif key == "group":
                info["group"] = value
            elif key == "key":
                info["lines"].append(value)
            elif key == "managed":
                info["managed"].append(value)
        return info
