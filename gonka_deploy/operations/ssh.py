"""Admin SSH keys in the login user's authorized_keys."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand

from ..facts.ssh import AuthorizedKeys
from .util import operation, refuse, upload_text


def key_id(line: str) -> tuple[str, str] | None:
    """(type, base64) of a key line, options and comment ignored; None for other lines."""
    fields = line.split()
    for i, field in enumerate(fields[:-1]):
        if field.startswith(("ssh-", "ecdsa-", "sk-")):
            return field, fields[i + 1]
    return None


@operation()
def authorized_keys(user: str, keys: list[str], exclusive: bool = False):
    """
    Add admin keys to a user's ``authorized_keys``; remove only keys this toolkit added.

    + user: the login user
    + keys: OpenSSH public key lines
    + exclusive: also remove every key that is not in ``keys`` (take care: the key pyinfra
      connects with must be among them)

    Keys the toolkit added are remembered in ``~/.ssh/authorized_keys.gonka-deploy``, so a key
    dropped from the inventory is removed later without touching keys added by hand.

    **Example:**

    .. code:: python

        ssh.authorized_keys(user="ubuntu", keys=["ssh-ed25519 AAAA… ops@laptop"])
    """
    info = host.get_fact(AuthorizedKeys, user=user)
    if info is None:
        yield from refuse(f"user {user} does not exist")
        return
    wanted = {key_id(k): k for k in keys if key_id(k)}
    previously = {key_id(k) for k in info["managed"] if key_id(k)}
    kept = []
    for line in info["lines"]:
        kid = key_id(line)
        if kid is None or kid in wanted:
            kept.append(line)  # comments, and wanted keys as written (options, comment)
        elif not (exclusive or kid in previously):
            kept.append(line)  # a key added by someone else: never ours to remove
    present = {key_id(line) for line in kept}
    new_lines = kept + [line for kid, line in wanted.items() if kid not in present]
    new_managed = sorted(wanted.values())
    if new_lines == info["lines"] and sorted(info["managed"]) == new_managed:
        host.noop(f"{user} has the {len(wanted)} admin key(s)")
        return
    home = info["home"]
    owner = f"{user}:{info['group']}"
    yield StringCommand("install", "-d", "-m", "0700", "-o", QuoteString(user), "-g",
                        QuoteString(info["group"]), QuoteString(f"{home}/.ssh"))
    yield from upload_text(f"{home}/.ssh/authorized_keys", "\n".join(new_lines) + "\n",
                           mode=0o600, old="\n".join(info["lines"]), owner=owner)
    yield from upload_text(f"{home}/.ssh/authorized_keys.gonka-deploy",
                           "\n".join(new_managed) + "\n", mode=0o600, owner=owner,
                           old="\n".join(info["managed"]) if info["managed"] else None)
