"""Gonka account addresses: bech32("gonka", ripemd160(sha256(compressed secp256k1 pubkey))).

The operator's cold account address is derived from ``account_pubkey`` to look the participant
up on the seed api. OpenSSL 3 builds of hashlib often lack RIPEMD-160, so a small pure-Python
implementation is used when hashlib has none.
"""

from __future__ import annotations

import base64
import hashlib
import struct

PREFIX = "gonka"
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

# RIPEMD-160 constants (ISO/IEC 10118-3).
_R1 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9,
       5, 2, 14, 11, 8, 3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12, 1, 9, 11, 10, 0, 8,
       12, 4, 13, 3, 7, 15, 14, 5, 6, 2, 4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13]
_R2 = [5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12, 6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8,
       12, 4, 9, 1, 2, 15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13, 8, 6, 4, 1, 3, 11, 15,
       0, 5, 12, 2, 13, 9, 7, 10, 14, 12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11]
_S1 = [11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8, 7, 6, 8, 13, 11, 9, 7, 15, 7, 12,
       15, 9, 11, 7, 13, 12, 11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5, 11, 12, 14,
       15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12, 9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11,
       8, 5, 6]
_S2 = [8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6, 9, 13, 15, 7, 12, 8, 9, 11, 7, 7,
       12, 7, 6, 15, 13, 11, 9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5, 15, 5, 8, 11,
       14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8, 8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13,
       11, 11]
_K1 = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
_K2 = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def _f(j: int, x: int, y: int, z: int) -> int:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _ripemd160_pure(data: bytes) -> bytes:
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    padded = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    for block in range(0, len(padded), 64):
        x = struct.unpack("<16I", padded[block:block + 64])
        a1, b1, c1, d1, e1 = h
        a2, b2, c2, d2, e2 = h
        for j in range(80):
            t = _rol((a1 + (_f(j, b1, c1, d1) & 0xFFFFFFFF) + x[_R1[j]] + _K1[j // 16])
                     & 0xFFFFFFFF, _S1[j]) + e1
            a1, e1, d1, c1, b1 = e1, d1, _rol(c1, 10), b1, t & 0xFFFFFFFF
            t = _rol((a2 + (_f(79 - j, b2, c2, d2) & 0xFFFFFFFF) + x[_R2[j]] + _K2[j // 16])
                     & 0xFFFFFFFF, _S2[j]) + e2
            a2, e2, d2, c2, b2 = e2, d2, _rol(c2, 10), b2, t & 0xFFFFFFFF
        t = (h[1] + c1 + d2) & 0xFFFFFFFF
        h[1] = (h[2] + d1 + e2) & 0xFFFFFFFF
        h[2] = (h[3] + e1 + a2) & 0xFFFFFFFF
        h[3] = (h[4] + a1 + b2) & 0xFFFFFFFF
        h[4] = (h[0] + b1 + c2) & 0xFFFFFFFF
        h[0] = t
    return struct.pack("<5I", *h)


def ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # not offered by this OpenSSL
        return _ripemd160_pure(data)


def _polymod(values: list[int]) -> int:
    generators = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generators[i] if (top >> i) & 1 else 0
    return chk


def _convert_bits(data: bytes, frm: int = 8, to: int = 5) -> list[int]:
    acc, bits, out = 0, 0, []
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & ((1 << to) - 1))
    if bits:
        out.append((acc << (to - bits)) & ((1 << to) - 1))
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    words = _convert_bits(data)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in words + checksum)


def account_address(pubkey_b64: str, prefix: str = PREFIX) -> str:
    """The bech32 account address of a base64 compressed secp256k1 public key."""
    raw = base64.b64decode(pubkey_b64, validate=True)
    return bech32_encode(prefix, ripemd160(hashlib.sha256(raw).digest()))


def check_account_address(address: str, prefix: str = PREFIX) -> str:
    """``address`` when it is a bech32 account address of ``prefix`` (20 bytes, valid
    checksum); ValueError naming what is wrong otherwise."""
    if address != address.lower():
        raise ValueError(f"{address!r}: a bech32 address is all lower case")
    hrp, sep, data = address.rpartition("1")
    if not sep or hrp != prefix:
        raise ValueError(f"{address!r} is not a {prefix}1… address")
    if len(data) < 7 or any(c not in BECH32_CHARSET for c in data):
        raise ValueError(f"{address!r}: not bech32 (characters after '{prefix}1')")
    words = [BECH32_CHARSET.index(c) for c in data]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _polymod(expanded + words) != 1:
        raise ValueError(f"{address!r}: bad bech32 checksum (a typo?)")
    payload = words[:-6]
    if len(payload) * 5 // 8 != 20:
        raise ValueError(f"{address!r}: holds {len(payload) * 5 // 8} bytes, an account "
                         "address holds 20")
    return address
