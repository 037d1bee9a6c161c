"""The leak scanner finds a secret in every form it can travel in (it must be able to fail)."""

from __future__ import annotations

import base64
import urllib.parse

from tests.leaks import forms, leaks

PASSWORD = "e2e-Keyring-pass 'with' $pecial\\chars"


def test_base64_of_a_file_holding_the_secret_is_found_at_every_offset():
    for prefix in ("", "x", "xy", "export KEYRING_PASSWORD="):
        blob = base64.b64encode(f"{prefix}{PASSWORD}\nmore\n".encode()).decode()
        assert leaks({"fact output": blob}, {"password": PASSWORD}), prefix
        urlsafe = base64.urlsafe_b64encode(f"{prefix}{PASSWORD}".encode()).decode()
        assert leaks({"log": urlsafe}, {"password": PASSWORD}), prefix


def test_hex_url_and_quoted_forms_are_found():
    for text in (PASSWORD.encode().hex(), urllib.parse.quote(PASSWORD),
                 "KEYRING_PASSWORD='e2e-Keyring-pass '\\''with'\\'' $pecial\\chars'"):
        assert leaks({"t": text}, {"password": PASSWORD}), text


def test_masked_and_unrelated_text_is_clean():
    text = "export KEYRING_PASSWORD=*****\n" + base64.b64encode(b"export A=1\n").decode()
    assert leaks({"t": text}, {"password": PASSWORD}) == []
    assert all(len(f) >= 8 for f in forms(PASSWORD))
