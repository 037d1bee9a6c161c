"""Rendered files: uploaded atomically, with a redacted diff, only when they differ."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from ..facts.files import ManagedFile
from .util import upload_text


@operation()
def rendered(path: str, content: str, mode: int = 0o644, owner: str | None = None,
             secrets: list[str] | None = None):
    """
    Keep a file's content and mode; print a unified diff with secret values redacted.

    + path: remote file path (its directory must exist)
    + content: the wanted text
    + mode: the wanted permission bits (0600 for files holding secrets)
    + owner: ``user:group`` to own the file, or None to leave the owner alone
    + secrets: values replaced by ``*****`` in every diff and log line

    The content travels on stdin into a temp file created 0600 beside the target, then renamed:
    never through argv, never world-readable.

    **Example:**

    .. code:: python

        files.rendered(path="/mnt/ssd/gonka/deploy/join/config.env", content=text,
                       mode=0o600, secrets=[password])
    """
    current = host.get_fact(ManagedFile, path=path)
    if current is not None and current["content"] == content:
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
    yield from upload_text(path, content, mode=mode,
                           old=current["content"] if current else None,
                           secrets=list(secrets or []), owner=owner)
