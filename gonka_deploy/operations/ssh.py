"""Admin SSH keys in the login user's authorized_keys."""

from __future__ import annotations

from pyinfra import host, logger
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


def login_blobs(user: str, connector=None) -> set[str] | None:
    """The public keys (base64 blobs) this run's SSH session authenticated ``user`` with: the
    key paramiko's transport used for the ``publickey`` method that succeeded (an agent's key
    or ``ssh_key``); empty when the session is another user's or not by key (a password);
    None when it cannot be told (no SSH session, not authenticated).

    Asked of the live session rather than guessed from the controller (``ssh-add -L``,
    ``ssh_key``, ~/.ssh/id_*: paramiko offers several, sshd accepts one) or from the host's
    auth log (its level and retention are the host's): it is the one key the server took."""
    connector = connector if connector is not None else getattr(host, "connector", None)
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None or not transport.is_authenticated():
        return None
    if transport.get_username() != user:
        return set()  # this user's keys are not the ones the run logs in with
    handler = transport.auth_handler
    method = getattr(handler, "auth_method", "")
    if method in ("password", "keyboard-interactive"):
        return set()
    key = getattr(handler, "private_key", None)
    if method == "publickey" and key is not None:
        return {key.get_base64()}
    return None


@operation()
def authorized_keys(user: str, keys: list[str], exclusive: bool = False,
                    login_keys: list[str] | None = None):
    """
    Add admin keys to a user's ``authorized_keys``; remove only keys this toolkit added.

    + user: the login user
    + keys: OpenSSH public key lines
    + exclusive: also remove every key that is not in ``keys``
    + login_keys: public key lines this run logs in with; default: the key the SSH session
      authenticated with (:func:`login_blobs`)

    Keys the toolkit added are remembered in ``~/.ssh/authorized_keys.gonka-deploy``, so a key
    dropped from the inventory is removed later without touching keys added by hand. The key
    this run logs in with is never removed (kept, with a warning, when ``keys`` lacks it);
    when that key cannot be told, nothing is removed: the host is refused.

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
    kept, removed = [], []
    for line in info["lines"]:
        kid = key_id(line)
        if kid is None or kid in wanted:
            kept.append(line)  # comments, and wanted keys as written (options, comment)
        elif not (exclusive or kid in previously):
            kept.append(line)  # a key added by someone else: never ours to remove
        else:
            removed.append(line)
    if removed:
        logins = ({key_id(k)[1] for k in login_keys if key_id(k)} if login_keys is not None
                  else login_blobs(user))
        if logins is None:
            yield from refuse(f"cannot tell which key this run logs in to {user} with (no "
                              f"authenticated SSH session); refusing to remove {len(removed)} "
                              "key(s) from authorized_keys")
            return
        for line in [line for line in removed if key_id(line)[1] in logins]:
            logger.warning(f"{host.print_prefix}kept {key_id(line)[0]} …{key_id(line)[1][-8:]} "
                           f"in {user}'s authorized_keys: this run logs in with it (add it to "
                           "admin_ssh_keys, or log in with a listed key to drop it)")
            removed.remove(line)
        kept = [line for line in info["lines"] if line not in removed]
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
