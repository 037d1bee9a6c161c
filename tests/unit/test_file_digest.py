"""A secret file's digest is keyed: fact output (printed at -vvv) carries no plain sha256 of a
file that holds the keyring password, nor anything to test guesses of it against (issue 20
item 18)."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import pytest

from gonka_deploy.facts import files
from gonka_deploy.hostside import filedigest

PASSWORD = "s3cret pass word!"
TEXT = f"export KEY_NAME=fra-01\nexport KEYRING_PASSWORD='{PASSWORD}'\n"


def read_on_host(path, masked=("KEYRING_PASSWORD",)) -> str:
    """The ManagedFile fact's own command, run by sh as the host runs it: its whole output."""
    command = files.ManagedFile().command(path=str(path), masked=masked)
    proc = subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def forms(text: str) -> list[str]:
    raw = text.encode()
    return [hashlib.sha256(raw).hexdigest(), hashlib.sha1(raw).hexdigest(),
            hashlib.md5(raw).hexdigest(), PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
            PASSWORD.encode().hex()]


def test_a_secret_file_read_prints_no_plain_hash_and_still_compares(tmp_path):
    path = tmp_path / "config.env"
    path.write_text(TEXT)
    output = read_on_host(path)
    for form in forms(TEXT):
        assert form not in output
    fact = files.ManagedFile().process(output.splitlines())
    assert fact["sha256"] == "" and fact["keyed"].startswith("dh:")
    assert fact["content"] == "export KEY_NAME=fra-01\nexport KEYRING_PASSWORD=*****\n"
    assert files.keyed_matches(fact["keyed"], TEXT)            # up to date: a no-op
    guess = TEXT.replace(PASSWORD, "another-guess-1234")
    assert not files.keyed_matches(fact["keyed"], guess)       # a change is seen
    # a log reader has no key: the same file under another run's exponent does not verify
    other = filedigest.private_exponent()
    key = filedigest.shared_key(int(fact["keyed"].split(":")[1], 16), other)
    assert filedigest.mac(key, TEXT.encode()) != fact["keyed"].split(":")[2]


def test_each_read_is_keyed_anew(tmp_path):
    path = tmp_path / "config.env"
    path.write_text(TEXT)
    first, second = (files.ManagedFile().process(read_on_host(path).splitlines())["keyed"]
                     for _ in range(2))
    assert first != second
    assert files.keyed_matches(first, TEXT) and files.keyed_matches(second, TEXT)


def test_a_file_without_secrets_keeps_its_plain_sha256(tmp_path):
    path = tmp_path / "nginx.conf"
    path.write_text("events {}\n")
    fact = files.ManagedFile().process(read_on_host(path, masked=()).splitlines())
    assert fact["sha256"] == hashlib.sha256(b"events {}\n").hexdigest() and fact["keyed"] == ""


@pytest.mark.parametrize("keyed", ["", "nodigest", "dh::", "dh:1:" + "0" * 64,
                                   f"dh:{filedigest.P - 1:x}:" + "0" * 64, "sha256:abc",
                                   "dh:zz:" + "0" * 64])
def test_anything_but_a_well_formed_keyed_digest_reads_as_changed(keyed):
    assert files.keyed_matches(keyed, TEXT) is False


def test_the_host_program_refuses_a_peer_value_out_of_range(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    for peer in ("1", f"{filedigest.P - 1:x}", "nothex"):
        proc = subprocess.run(["python3", "-c", files.DIGEST_SCRIPT, str(path), peer],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1 and proc.stdout == "", proc.stdout
