"""Fake key material shared by the sims: ed25519-shaped consensus/node keys and ids.

No real curve math: a public key is a hash of the private seed. The formats (lengths, base64,
hex ids, JSON shapes) match CometBFT's, which is what the deploy code and tests look at.
"""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_ed25519_priv() -> bytes:
    """64 bytes like Go's ed25519 private key: seed || public key."""
    seed = secrets.token_bytes(32)
    return seed + ed25519_pub(seed)


def ed25519_pub(seed: bytes) -> bytes:
    return hashlib.sha256(b"gonkasim-ed25519-pub" + seed[:32]).digest()


def node_id(pub: bytes) -> str:
    """CometBFT node id: hex of the first 20 bytes of sha256(pubkey)."""
    return hashlib.sha256(pub).digest()[:20].hex()


def validator_address(pub: bytes) -> str:
    return hashlib.sha256(pub).digest()[:20].hex().upper()


def node_key_json(priv: bytes) -> dict:
    return {"priv_key": {"type": "tendermint/PrivKeyEd25519",
                         "value": base64.b64encode(priv).decode()}}


def pub_from_node_key(doc: dict) -> bytes:
    return base64.b64decode(doc["priv_key"]["value"])[32:]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64decode(text: str) -> bytes:
    return base64.b64decode(text)
