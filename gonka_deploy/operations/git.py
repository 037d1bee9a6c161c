"""The gonka repo clone: cloned once, then moved only forward to the pinned ref."""

from __future__ import annotations

import re

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.git import GitCheckout, GitRemoteRef
from ..hostside import retrying
from .util import need, operation, refuse

SHA = re.compile(r"^[0-9a-f]{40}$")


@operation()
def checkout(url: str, path: str, ref: str, managed: list[str] | None = None):
    """
    Clone ``url`` at ``ref`` into ``path``; later runs fast-forward to the pinned ref only.

    + url: repository URL
    + path: where the clone lives
    + ref: pinned commit, tag or branch (checked out detached)
    + managed: paths inside the clone that the toolkit renders itself; their edits are expected,
      restored before a move and rendered again afterwards

    Local edits to any other tracked file are reported and stop the move: they are never
    overwritten. Clone, fetch and the remote ref lookup retry transient network failures
    (a reset connection, a timeout) with backoff; a missing ref fails at once.

    **Example:**

    .. code:: python

        git.checkout(url="https://github.com/gonka-ai/gonka.git", path="/mnt/ssd/gonka",
                     ref="8a35022bea25ebee4b7356314a0a262edbaa82db")
    """
    managed = managed or []
    target = ref if SHA.match(ref) else host.get_fact(GitRemoteRef, url=url, ref=ref)
    if target is None:
        yield from refuse(f"{url} has no ref {ref!r}")
        return
    clone = need(host.get_fact(GitCheckout, path=path), f"the clone at {path}")
    verb = "" if state.is_executing else "would "
    git = ("git", "-C", QuoteString(path))
    if not clone["exists"]:
        logger.info(f"{host.print_prefix}{verb}clone {url} at {ref} ({target[:12]}) into {path}")
        yield retrying("git", "clone", "--quiet", "--no-checkout", QuoteString(url),
                       QuoteString(path))
        yield StringCommand(*git, "checkout", "--quiet", "--detach", QuoteString(target))
        return
    if clone["origin"] != url:
        yield from refuse(f"{path} is a clone of {clone['origin']}, not {url}")
        return
    edits = [f for f in clone["dirty"] if f not in managed]
    if clone["head"] == target:
        if edits:
            logger.warning(f"{host.print_prefix}{path} has local edits (kept): "
                           + ", ".join(edits))
        host.noop(f"{path} is at {ref} ({target[:12]})")
        return
    if edits:
        yield from refuse(f"{path} has local edits to {', '.join(edits)}; not moving it from "
                          f"{(clone['head'] or '?')[:12]} to {ref}. Commit, stash or drop them.")
        return
    logger.info(f"{host.print_prefix}{verb}move {path} from {(clone['head'] or '?')[:12]} to "
                f"{ref} ({target[:12]}), fast-forward only")
    yield retrying(*git, "fetch", "--quiet", "--tags", "origin")
    yield StringCommand(*git, "merge-base", "--is-ancestor", "HEAD", QuoteString(target))
    restore = [f for f in clone["dirty"] if f in managed]
    if restore:
        yield StringCommand(*git, "checkout", "--quiet", "--",
                            *[QuoteString(f) for f in restore])
    yield StringCommand(*git, "checkout", "--quiet", "--detach", QuoteString(target))
