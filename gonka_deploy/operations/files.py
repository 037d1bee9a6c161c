"""Rendered files: uploaded atomically, with a redacted diff, only when they differ."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr
from pyinfra import host
from pyinfra.api import QuoteString, StringCommand

from ..facts.files import ManagedFile, keyed_matches, masked
from ..render import SECRET_KEYS, redact
from .util import log_diff, operation, write_command


def reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@operation()
def rendered(path: str, content: str | SecretStr, mode: int = 0o644, owner: str | None = None,
             secrets: list[SecretStr] | None = None,
             secret_keys: tuple[str, ...] = SECRET_KEYS):
    """
    Keep a file's content and mode; print a unified diff with secret values redacted.

    + path: remote file path (its directory must exist)
    + content: the wanted text (a ``SecretStr`` when it holds a secret)
    + mode: the wanted permission bits (0600 for files holding secrets)
    + owner: ``user:group`` to own the file, or None to leave the owner alone
    + secrets: secret values (``SecretStr``) replaced by ``*****`` in every diff and log line
    + secret_keys: the variables (``NAME=``) or YAML keys (``NAME:``) whose values the host
      masks before it sends the file back (default ``KEYRING_PASSWORD``)

    A file with ``secrets`` is never read back: the host sends a keyed digest of it (no plain
    hash to test guesses against: :mod:`gonka_deploy.hostside.filedigest`) and its content
    with the values of the secret variables (``KEYRING_PASSWORD=…``) masked. The wanted content
    travels on stdin into a temp file created 0600 beside the target, then renamed: never
    through argv, never world-readable.

    **Example:**

    .. code:: python

        files.rendered(path="/mnt/ssd/gonka/deploy/join/config.env",
                       content=SecretStr(text), mode=0o600,
                       secrets=[config.keyring_password])
    """
    secret_values = [reveal(s) for s in secrets or []]
    keys = tuple(secret_keys) if secrets else ()
    current = host.get_fact(ManagedFile, path=path, **({"masked": keys} if keys else {}))
    text = reveal(content)
    if current is None:
        same = False
    elif keys:  # a secret file: only a keyed digest came back
        same = keyed_matches(current.get("keyed", ""), text)
    else:
        same = current["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    if same:
        wrong = []
        if current["mode"] != mode:
            wrong.append(StringCommand("chmod", f"{mode:04o}", QuoteString(path)))
        if owner and current["owner"] != owner:
            wrong.append(StringCommand("chown", QuoteString(owner), QuoteString(path)))
        if not wrong:
            host.noop(f"{path} is up to date")
            return
        yield from wrong
        return
    # The old side of the diff is what the host sent (masked there); the new side is masked
    # the same way here, then any stray secret value is redacted.
    new_view = redact(masked(text, keys), secret_values)
    log_diff(path, current["content"] if current else None, new_view, secret_values)
    yield write_command(path, text, mode=mode, owner=owner)
