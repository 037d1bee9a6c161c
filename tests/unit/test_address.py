"""Cold account address derivation (bech32 of ripemd160(sha256(pubkey)))."""

from __future__ import annotations

from gonka_deploy.address import _ripemd160_pure, account_address, bech32_encode


def test_pure_ripemd160_matches_the_published_test_vectors():
    vectors = {
        b"": "9c1185a5c5e9fc54612808977ee8f548b2258d31",
        b"abc": "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc",
        b"message digest": "5d0689ef49d2fae572b881b123a85ffa21595f36",
        b"1234567890" * 8: "9b752e45573d4b39f4dbd3323cab82bf63326bfb",
    }
    for message, digest in vectors.items():
        assert _ripemd160_pure(message).hex() == digest


def test_bech32_matches_a_known_cosmos_address():
    # BIP-173 style check: all-zero 20 bytes under the cosmos prefix.
    assert bech32_encode("cosmos", bytes(20)) == "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a"


def test_account_address_agrees_with_the_seed_simulator():
    from gonkasim.address import address_from_b64

    key = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"
    assert account_address(key) == address_from_b64(key)
    assert account_address(key).startswith("gonka1")
