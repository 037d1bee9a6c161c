"""A keyed digest of a file that holds a secret, agreed without a secret on the wire.

    python3 -c "$(filedigest.py)" PATH PEER     prints one line ``dh:OWN:MAC`` (hex)

The digest of config.env (it holds the keyring password) is what tells the controller whether
the file must be rewritten. A plain sha256 of it, printed in fact output at ``-vvv``, lets anyone
who reads that log test password guesses offline (everything else in the file is known). So it
is an HMAC-SHA256 under a key that only the two ends know and no log carries: a Diffie-Hellman
exchange in the 2048-bit MODP group of RFC 3526 (group 14). PEER is the controller's public
value of this run (on argv: public), OWN the host's of this read (printed: public), and the key
is the sha256 of the shared value; the host's exponent is random per read and forgotten. Python
stdlib only; the controller imports the same code (``gonka_deploy.hostside.filedigest``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys

# RFC 3526 section 3: the 2048-bit MODP group, generator 2.
P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)
G = 2
EXPONENT_BITS = 320  # more than twice the group's ~112-bit strength (RFC 3526 section 8)
PREFIX = "dh"


def private_exponent() -> int:
    return secrets.randbits(EXPONENT_BITS) | (1 << (EXPONENT_BITS - 1))


def public_value(exponent: int) -> int:
    return pow(G, exponent, P)


def parse_public(text: str) -> int:
    """A peer's public value (hex); ValueError unless 2 <= y <= p-2 (1 and p-1 would fix the
    shared value whatever the exponent)."""
    value = int(text, 16)
    if not 2 <= value <= P - 2:
        raise ValueError("public value out of range")
    return value


def shared_key(peer: int, exponent: int) -> bytes:
    return hashlib.sha256(pow(peer, exponent, P).to_bytes(256, "big")).digest()


def mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def digest_line(data: bytes, peer_hex: str) -> str:
    """What the host prints for ``data``: ``dh:OWN:MAC``."""
    exponent = private_exponent()
    key = shared_key(parse_public(peer_hex), exponent)
    return f"{PREFIX}:{public_value(exponent):x}:{mac(key, data)}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: filedigest PATH PEER", file=sys.stderr)
        return 2
    path, peer = argv
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        line = digest_line(data, peer)
    except (OSError, ValueError) as exc:
        print(f"filedigest: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
