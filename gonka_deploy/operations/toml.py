"""Key-scoped edits of TOML files (config.toml, app.toml) that keep comments and other lines."""

from __future__ import annotations

import tomllib
from typing import Any

import tomlkit
from pyinfra import host, logger, state

from ..facts.files import ManagedFile
from .util import operation, refuse, upload_text

_MISSING = object()


def has_keys(text: str, settings: dict[str, Any]) -> bool:
    """Whether every dotted key already has its value (then :func:`set_keys` returns ``text``
    unchanged). The stdlib's ``tomllib`` reads a config.toml some 20 times faster than
    tomlkit parses it for editing: on a converged fleet most hosts need only this."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False    # set_keys decides (and tomlkit says what is wrong)
    for dotted, value in settings.items():
        node: Any = document
        for name in dotted.split("."):
            node = node.get(name, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING or node != value:
            return False
    return True


def set_keys(text: str, settings: dict[str, Any]) -> str:
    """Return ``text`` with each dotted key set; everything else (comments included) kept."""
    if has_keys(text, settings):
        return text
    document = tomlkit.parse(text)
    for dotted, value in settings.items():
        *tables, key = dotted.split(".")
        table = document
        for name in tables:
            if name not in table:
                table[name] = tomlkit.table()
            table = table[name]
        if table.get(key) != value:
            table[key] = value
    return tomlkit.dumps(document)


@operation()
def settings(path: str, values: dict[str, Any], created_by: str = "the service"):
    """
    Set keys of a TOML file on the host; no change when every key already has its value.

    + path: the TOML file
    + values: dotted keys to values, e.g. ``{"p2p.persistent_peers": "id@host:5000"}``
    + created_by: who creates the file (for the message when it does not exist yet)

    The file may not exist during a dry run of a fresh host (the node writes it on its first
    start): the plan then says so, and the edit is computed when the operation executes.

    **Example:**

    .. code:: python

        toml.settings(path=".../config.toml", values={"p2p.persistent_peers": peers})
    """
    current = host.get_fact(ManagedFile, path=path)
    if current is None:
        if state.is_executing:
            yield from refuse(f"{path} does not exist: {created_by} has not created it")
        else:
            logger.info(f"{host.print_prefix}will set {', '.join(values)} in {path} once "
                        f"{created_by} has created it")
        return
    wanted = set_keys(current["content"], values)
    if wanted == current["content"]:
        host.noop(f"{path} has {', '.join(values)}")
        return
    yield from upload_text(path, wanted, mode=current["mode"], old=current["content"])
