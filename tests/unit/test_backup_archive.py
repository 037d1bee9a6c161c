"""The key backup archive (gonka_deploy/backup.py): a round trip, a wrong passphrase and any
tampering fail cleanly, archives are 0600 in 0700 folders with a checksum beside them, nothing
of the plaintext reaches the disk, and nothing is written during a dry run."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
from unittest.mock import MagicMock

import pytest
from pydantic import SecretStr
from pyinfra.context import ctx_state

from gonka_deploy import backup
from gonka_deploy.backup import BackupError, FileEntry, Manifest
from gonka_deploy.state import DryRunWrite
from tests.leaks import leaks, local_files

PASSPHRASE = SecretStr("correct horse battery staple 42")


@pytest.fixture
def material():
    seed = base64.b64encode(secrets.token_bytes(32)).decode() + "\n"
    files = {
        ".tmkms/secrets/priv_validator_key.softsign": seed.encode(),
        ".tmkms/secrets/kms-identity.key": secrets.token_bytes(32),
        ".tmkms/state/priv_validator_state.json": b'{"height": "7", "round": "0", "step": 3}\n',
        ".inference/config/node_key.json": b'{"priv_key": {"value": "'
        + base64.b64encode(secrets.token_bytes(64)) + b'"}}\n',
        ".inference/keyring-file/fra-01.info": secrets.token_bytes(120),
    }
    manifest = Manifest(
        host="gpu-fra-01", key_name="fra-01", node_id="0b7c2d3e-1f2a-4b5c-8d9e-0f1a2b3c4d5e",
        created="2026-11-30T05:05:05+00:00", release="v0.2.16-post1", public_host="203.0.113.7",
        p2p_port=5000, api_port=8000, consensus_pubkey="cHVi", files=[
            FileEntry(path=p, size=len(d), mode=0o600, sha256=hashlib.sha256(d).hexdigest())
            for p, d in files.items()])
    return manifest, files, seed


def test_round_trip_gives_back_every_file_and_the_manifest(material):
    manifest, files, _ = material
    data = backup.seal(manifest, files, PASSPHRASE)
    got_manifest, got = backup.unseal(data, PASSPHRASE)
    assert got == files and got_manifest == manifest
    header, _, _ = backup.split(data)
    assert header.kdf.name == "scrypt" and header.kdf.n == 2 ** 17 and header.cipher.nonce
    # the same files sealed twice: different salt and nonce, so different bytes
    assert backup.seal(manifest, files, PASSPHRASE) != data


def test_wrong_passphrase_fails_cleanly(material):
    manifest, files, _ = material
    data = backup.seal(manifest, files, PASSPHRASE)
    with pytest.raises(BackupError, match="wrong passphrase, or the archive was changed") as exc:
        backup.unseal(data, SecretStr("correct horse battery staple 43"))
    assert "staple" not in str(exc.value)


@pytest.mark.parametrize("where", ["ciphertext", "tag", "manifest", "magic", "truncated"])
def test_tampered_archive_fails(material, where):
    manifest, files, _ = material
    data = bytearray(backup.seal(manifest, files, PASSPHRASE))
    header_end = data.index(b"\n", len(backup.MAGIC)) + 1
    if where == "ciphertext":
        data[header_end + 10] ^= 1
    elif where == "tag":
        data[-1] ^= 1
    elif where == "manifest":  # a changed size in the clear header: authenticated data
        data = bytearray(bytes(data).replace(b'"p2p_port":5000', b'"p2p_port":5001', 1))
        assert b'"p2p_port":5001' in data
    elif where == "magic":
        data[0:6] = b"XONKA-"
    else:
        data = data[: header_end + 20]
    with pytest.raises(BackupError):
        backup.unseal(bytes(data), PASSPHRASE)


def test_files_that_differ_from_the_manifest_are_not_sealed(material):
    manifest, files, _ = material
    with pytest.raises(BackupError, match="size or sha256 differs"):
        backup.seal(manifest, {**files, ".tmkms/secrets/kms-identity.key": b"other"}, PASSPHRASE)
    with pytest.raises(BackupError, match="differ from the manifest"):
        backup.seal(manifest, {**files, ".dapi/gonka.db": b"x"}, PASSPHRASE)


def test_archive_is_0600_with_its_checksum_and_no_plaintext_on_disk(material, tmp_path,
                                                                     monkeypatch):
    manifest, files, seed = material
    monkeypatch.setenv("GONKA_BACKUP_DIR", str(tmp_path / "backups"))
    path = backup.write_archive("fra-01", manifest.created,
                                backup.seal(manifest, files, PASSPHRASE))
    assert path.name == "20261130T050505Z.gkb"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (tmp_path / "backups", tmp_path / "backups" / "fra-01"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert backup.verify_checksum(path)
    assert backup.choose("fra-01") == path and backup.archives("fra-01") == [path]
    assert backup.read_header(path).manifest == manifest  # no passphrase needed
    texts = {**local_files(tmp_path), **{f"{p} (bytes)": p.read_bytes().decode("latin-1")
                                         for p in (tmp_path / "backups").rglob("*")
                                         if p.is_file()}}
    found = {f"{name}": data.decode("latin-1") for name, data in files.items()}
    found["softsign seed"] = seed.strip()
    found["passphrase"] = PASSPHRASE.get_secret_value()
    assert leaks(texts, found) == []
    with pytest.raises(BackupError, match="exists already"):
        backup.write_archive("fra-01", manifest.created, b"x")
    path.write_bytes(path.read_bytes() + b"x")
    assert not backup.verify_checksum(path)


def test_nothing_is_written_during_a_dry_run(material, tmp_path, monkeypatch):
    manifest, files, _ = material
    monkeypatch.setenv("GONKA_BACKUP_DIR", str(tmp_path / "backups"))
    with ctx_state.use(MagicMock(is_executing=False)), pytest.raises(DryRunWrite):
        backup.write_archive("fra-01", manifest.created, b"data")
    assert not (tmp_path / "backups").exists()


def test_the_signing_state_alone_is_no_change_and_is_never_restored_as_archived(material):
    """A newer signing state is no reason for a new archive; and the archived one is as old as
    the archive: a restore writes one at the chain's height instead (never these bytes)."""
    from gonka_deploy.operations.backup import fresh_signing_state

    manifest, files, _ = material
    assert ".tmkms/state/priv_validator_state.json" not in manifest.hashes()
    assert ".tmkms/state/priv_validator_state.json" in manifest.hashes(volatile=True)
    archived = files[".tmkms/state/priv_validator_state.json"]
    fresh = fresh_signing_state(archived, 1300)
    assert fresh != archived
    assert json.loads(fresh) == {"height": "1300", "round": "0", "step": 0}
    # never below what the archive had signed, the archive's own types kept, no old block
    higher = b'{"height": "2000", "round": 1, "step": 3, "block_id": {"hash": "AB"}}'
    assert json.loads(fresh_signing_state(higher, 1300)) == {
        "height": "2000", "round": 0, "step": 0, "block_id": None}
    assert json.loads(fresh_signing_state(None, 7)) == {"height": "7", "round": "0", "step": 0}
    with pytest.raises(BackupError, match="not a signing state"):
        fresh_signing_state(b"state-1\n", 1300)


@pytest.mark.parametrize("kdf", [{"n": 2 ** 40}, {"n": 2 ** 21}, {"n": 3 * 2 ** 10},
                                 {"r": 2 ** 20}, {"p": 2 ** 20}, {"n": 2 ** 20, "r": 16},
                                 {"salt": "c2FsdA=="}, {"name": "argon2"}])
def test_a_planted_header_cannot_make_the_kdf_exhaust_the_machine(material, monkeypatch, kdf):
    """KDF parameters come from the archive's clear header: they are bounded before scrypt
    runs (n=2**40 would need 128 TiB), for a wrong passphrase as for a right one."""
    manifest, files, _ = material
    data = backup.seal(manifest, files, PASSPHRASE)
    header, header_bytes, sealed = backup.split(data)
    planted = header.model_copy(update={"kdf": header.kdf.model_copy(update=kdf)})
    forged = backup.MAGIC + planted.model_dump_json().encode() + b"\n" + sealed

    def scrypt(**kwargs):
        raise AssertionError(f"scrypt ran with {kwargs}")

    monkeypatch.setattr(backup, "Scrypt", scrypt)
    with pytest.raises(BackupError, match="scrypt|key derivation"):
        backup.unseal(forged, PASSPHRASE)


@pytest.mark.parametrize("weak", ["short-pass-0123", "aaaaaaaaaaaaaaaaaaaaaaaa",
                                  "changeme-changeme-changeme", "password-0123456789-abc",
                                  "<fill in a passphrase here>", "a good long one\nwith a newline"])
def test_a_new_archive_needs_a_strong_passphrase(material, weak):
    manifest, files, _ = material
    with pytest.raises(BackupError) as exc:
        backup.seal(manifest, files, SecretStr(weak))
    assert weak not in str(exc.value)


def test_an_archive_made_with_a_weaker_passphrase_still_opens(material, monkeypatch):
    """The strength rule is for new archives: an old one is opened whatever its passphrase."""
    manifest, files, _ = material
    monkeypatch.setattr(backup, "check_backup_passphrase", lambda secret: None)
    data = backup.seal(manifest, files, SecretStr("short-pass"))
    assert backup.unseal(data, SecretStr("short-pass"))[1] == files


def test_choose_names_what_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_BACKUP_DIR", str(tmp_path))
    assert backup.choose("fra-01") is None
    os.makedirs(tmp_path / "fra-01")
    for name in ("20261101T000000Z.gkb", "20261130T050505Z.gkb"):
        (tmp_path / "fra-01" / name).write_bytes(b"")
    assert backup.choose("fra-01").name == "20261130T050505Z.gkb"
    assert backup.choose("fra-01", "20261101T000000Z.gkb").name == "20261101T000000Z.gkb"
    with pytest.raises(BackupError, match="no archive .* 20261101T000000Z.gkb, "):
        backup.choose("fra-01", "20250101T000000Z.gkb")
