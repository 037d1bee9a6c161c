"""The keyed digest a host would print for a text, for operation cases:

    python -m tests.unit.keyed_digest TEXT      prints `dh:OWN:MAC` under FIXTURE_EXPONENT
"""

from __future__ import annotations

import sys

from gonka_deploy.hostside import filedigest

from .fixtures import FIXTURE_EXPONENT

HOST_EXPONENT = int("70a5" * 20, 16)  # fixed here so that the cases stay the same


def keyed(text: str) -> str:
    peer = filedigest.public_value(FIXTURE_EXPONENT)
    key = filedigest.shared_key(peer, HOST_EXPONENT)
    own = filedigest.public_value(HOST_EXPONENT)
    return f"{filedigest.PREFIX}:{own:x}:{filedigest.mac(key, text.encode())}"


if __name__ == "__main__":
    print(keyed(sys.argv[1]))
