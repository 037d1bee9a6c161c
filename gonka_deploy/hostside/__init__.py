"""Programs that run on the hosts, kept as real files (linted, unit-tested) and sent inline:
``sh -c "$(text)" _ ARGS…`` or ``python3 -c "$(text)" ARGS…``. They need nothing of ours on the
host, and no secret ever travels in them (secrets go on stdin)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from pyinfra.api import QuoteString, StringCommand

HERE = Path(__file__).resolve().parent


@cache
def source(name: str) -> str:
    """The text of the host-side program ``name`` (e.g. ``http_get.sh``)."""
    return (HERE / name).read_text()


# Output of a network command that failed for a reason worth another try: the connection, the
# name lookup, a timeout, or a server that said "later". Anything else (a missing ref, a 404, a
# refused login) is permanent and fails at once. An extended regex: the host-side retry script
# greps with it too.
TRANSIENT_PATTERN = (
    "connection reset|connection refused|timed out|timeout|early eof|hung up unexpectedly|"
    "could not resolve host|temporary failure in name resolution|rpc failed|gnutls|"
    "tls handshake|broken pipe|network is unreachable|[^0-9](429|502|503|504)([^0-9]|$)|"
    "too many requests|service unavailable")
TRANSIENT = re.compile(TRANSIENT_PATTERN, re.I)
NETWORK_ATTEMPTS = 4


def is_transient(text: str) -> bool:
    return bool(TRANSIENT.search(text or ""))


def retrying(*command, attempts: int = NETWORK_ATTEMPTS) -> StringCommand:
    """``command`` run on the host through the retry script: transient network failures are
    tried again with backoff (2, 4, 8 s) and each retry is said; permanent ones fail at once."""
    return StringCommand("sh", "-c", QuoteString(source("retry.sh")), "_", str(attempts),
                         QuoteString(TRANSIENT_PATTERN), *command)
