"""Encrypted key backups on the operator's machine: the archive format and where archives live.

An archive is one file, ``backups/<key_name>/<created>.gkb`` (``GONKA_BACKUP_DIR`` moves
``backups/``; gitignored), mode 0600 in 0700 folders, with a ``.sha256`` beside it in
``sha256sum`` format (check a copy anywhere with ``sha256sum -c``)::

    GONKA-DEPLOY-BACKUP 1\\n
    {"format": 1, "manifest": {...}, "kdf": {...}, "cipher": {...}}\\n
    <AES-256-GCM ciphertext of a tar of the files, tag included>

- The header line is readable without the passphrase: the manifest (host, key_name, node_id,
  created, release, the node's public addresses and consensus key, every file with its size,
  mode and sha256) and the KDF's parameters. It is authenticated: it is the cipher's associated
  data, so a changed manifest fails like a wrong passphrase.
- Key: scrypt (n=2**17, r=8, p=1, 16-byte random salt) of the passphrase; cipher: AES-256-GCM
  with a 12-byte random nonce (``cryptography``'s ``Scrypt`` and ``AESGCM``: no crypto here).
  The header's KDF parameters are bounded before use (``check_kdf``); a new archive needs a
  strong passphrase (``secrets.check_backup_passphrase``). The README shows how to open an
  archive by hand with Python and ``cryptography`` alone.
- The tar holds the files by their path under deploy/join, with their modes, owned by root,
  mtime 0: the same files make the same tar.

Nothing here writes plaintext anywhere: archives are made and opened in memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import tarfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .secrets import SecretError, check_backup_passphrase

BACKUP_DIR_ENV = "GONKA_BACKUP_DIR"
MAGIC = b"GONKA-DEPLOY-BACKUP 1\n"
SUFFIX = ".gkb"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1  # about 0.3 s and 128 MiB per archive
# What an archive's header may ask for (checked before any derivation): 8x our memory, 16x our
# work at most.
SCRYPT_MAX_N, SCRYPT_MAX_R, SCRYPT_MAX_P = 2 ** 20, 16, 16
SCRYPT_MAX_MEMORY = 1 << 30
SCRYPT_MAX_WORK = 16 * SCRYPT_N * SCRYPT_R * SCRYPT_P
# The signing state tmkms rewrites at every signature (FACTS-ops B7: "state_file stores
# information about the latest signature"): a newer one alone is no reason for a new archive.
VOLATILE = frozenset({".tmkms/state/priv_validator_state.json"})


class BackupError(ValueError):
    """An archive that cannot be used (the message never holds a secret)."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(Model):
    path: str
    size: int
    mode: int
    sha256: str


class DirEntry(Model):
    path: str
    mode: int


class Manifest(Model):
    host: str
    key_name: str
    node_id: str
    created: str
    release: str
    public_host: str
    ssh_hostname: str | None = None       # where the toolkit reached the host (its own address)
    p2p_port: int
    api_port: int
    warm_address: str | None = None
    consensus_pubkey: str | None = None   # base64, as the node's RPC /status shows it
    validator_address: str | None = None
    p2p_id: str | None = None
    files: list[FileEntry]
    dirs: list[DirEntry] = Field(default_factory=list)
    toolkit: str = "gonka-deploy"

    def hashes(self, volatile: bool = False) -> dict[str, str]:
        return {f.path: f.sha256 for f in self.files if volatile or f.path not in VOLATILE}


class Kdf(Model):
    name: str = "scrypt"
    salt: str
    n: int
    r: int
    p: int
    length: int = 32


class Cipher(Model):
    name: str = "AES-256-GCM"
    nonce: str


class Header(Model):
    format: int = 1
    manifest: Manifest
    kdf: Kdf
    cipher: Cipher


# --- the format -----------------------------------------------------------------------------

def check_kdf(kdf: Kdf) -> None:
    """Refuse KDF parameters outside the bounds before anything is derived: they come from the
    archive's clear header, and a planted archive with ``n=2**40`` would take all memory (scrypt
    needs 128*n*r bytes) before the passphrase is even found wrong."""
    if kdf.name != "scrypt" or kdf.length != 32:
        raise BackupError(f"unknown key derivation {kdf.name}/{kdf.length}")
    n, r, p = kdf.n, kdf.r, kdf.p
    if not (2 <= n <= SCRYPT_MAX_N and n & (n - 1) == 0) or not 1 <= r <= SCRYPT_MAX_R \
            or not 1 <= p <= SCRYPT_MAX_P or 128 * n * r > SCRYPT_MAX_MEMORY \
            or n * r * p > SCRYPT_MAX_WORK:
        raise BackupError(f"scrypt parameters n={n}, r={r}, p={p} are outside what this toolkit "
                          f"accepts (n a power of 2 up to 2**20, r up to {SCRYPT_MAX_R}, p up to "
                          f"{SCRYPT_MAX_P}, at most 1 GiB and 16 times the default work): not "
                          "deriving a key from them")
    try:
        salt = base64.b64decode(kdf.salt, validate=True)
    except ValueError:
        raise BackupError("the archive's scrypt salt is not base64") from None
    if not 16 <= len(salt) <= 64:
        raise BackupError(f"the archive's scrypt salt has {len(salt)} bytes (16 to 64 expected)")


def _key(passphrase: SecretStr, kdf: Kdf) -> bytes:
    check_kdf(kdf)
    return Scrypt(salt=base64.b64decode(kdf.salt), length=kdf.length, n=kdf.n, r=kdf.r,
                  p=kdf.p).derive(passphrase.get_secret_value().encode())


def make_payload(files: dict[str, bytes], manifest: Manifest) -> bytes:
    """The tar of ``files`` (path -> content), modes from the manifest, nothing else varying."""
    modes = {f.path: f.mode for f in manifest.files}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(files[path]), modes[path], 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(files[path]))
    return out.getvalue()


def check_files(manifest: Manifest, files: dict[str, bytes]) -> None:
    """Every file of the manifest, with its size and sha256, and nothing else."""
    listed = {f.path: f for f in manifest.files}
    if set(files) != set(listed):
        raise BackupError("the files differ from the manifest: "
                          + ", ".join(sorted(set(files) ^ set(listed))))
    for path, data in files.items():
        entry = listed[path]
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BackupError(f"{path}: size or sha256 differs from the manifest")


def seal(manifest: Manifest, files: dict[str, bytes], passphrase: SecretStr) -> bytes:
    """The archive of ``files`` (checked against ``manifest`` first), encrypted; a weak
    passphrase is refused (``secrets.check_backup_passphrase``)."""
    try:
        check_backup_passphrase(passphrase)
    except SecretError as exc:
        raise BackupError(str(exc)) from None
    check_files(manifest, files)
    kdf = Kdf(salt=base64.b64encode(secrets.token_bytes(16)).decode(), n=SCRYPT_N, r=SCRYPT_R,
              p=SCRYPT_P)
    cipher = Cipher(nonce=base64.b64encode(secrets.token_bytes(12)).decode())
    header = MAGIC + Header(manifest=manifest, kdf=kdf, cipher=cipher) \
        .model_dump_json().encode() + b"\n"
    sealed = AESGCM(_key(passphrase, kdf)).encrypt(base64.b64decode(cipher.nonce),
                                                   make_payload(files, manifest), header)
    return header + sealed


def split(data: bytes) -> tuple[Header, bytes, bytes]:
    """(header, the header's bytes, ciphertext); only the format is checked here."""
    if not data.startswith(MAGIC):
        raise BackupError("not a gonka-deploy key backup (no GONKA-DEPLOY-BACKUP 1 line)")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise BackupError("truncated archive (no header line)")
    try:
        header = Header.model_validate_json(data[len(MAGIC):end])
    except ValueError as exc:
        raise BackupError(f"unreadable archive header: {exc.__class__.__name__}") from None
    check_kdf(header.kdf)
    return header, data[:end + 1], data[end + 1:]


def unseal(data: bytes, passphrase: SecretStr) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and the files of an archive, checked; BackupError when the passphrase is
    wrong or anything in the archive was changed."""
    header, header_bytes, sealed = split(data)
    if header.cipher.name != "AES-256-GCM":
        raise BackupError(f"unknown cipher {header.cipher.name}")
    try:
        payload = AESGCM(_key(passphrase, header.kdf)).decrypt(
            base64.b64decode(header.cipher.nonce), sealed, header_bytes)
    except InvalidTag:
        raise BackupError("wrong passphrase, or the archive was changed") from None
    files = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                raise BackupError(f"unexpected tar member {member.name}")
            files[member.name] = tar.extractfile(member).read()
    check_files(header.manifest, files)
    return header.manifest, files


# --- where archives live ------------------------------------------------------------------

def backup_root() -> Path:
    return Path(os.environ.get(BACKUP_DIR_ENV, "backups"))


def archives(key_name: str, root: Path | None = None) -> list[Path]:
    """The archives of ``key_name``, oldest first (their names are their creation times)."""
    folder = (root or backup_root()) / key_name
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def choose(key_name: str, choice: str = "latest") -> Path | None:
    """The archive ``choice`` names: ``latest``, or a file name in ``backups/<key_name>/``."""
    found = archives(key_name)
    if choice == "latest":
        return found[-1] if found else None
    path = backup_root() / key_name / choice
    if not path.is_file():
        names = ", ".join(p.name for p in found) or "none"
        raise BackupError(f"no archive {path} (found: {names})")
    return path


def read_header(path: Path) -> Header:
    """The header of an archive (its manifest): no passphrase needed."""
    with open(path, "rb") as f:
        return split(f.readline() + f.readline())[0]


def stamp(created: str) -> str:
    """File name of an archive made at ``created`` (ISO 8601, UTC)."""
    when = dt.datetime.fromisoformat(created).astimezone(dt.UTC)
    return when.strftime("%Y%m%dT%H%M%SZ") + SUFFIX


def write_archive(key_name: str, created: str, data: bytes) -> Path:
    """Write an archive 0600 (and its .sha256), at execute time only."""
    from .state import _check_may_write, atomic_write

    _check_may_write()
    folder = backup_root() / key_name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (backup_root(), folder):
        os.chmod(path, 0o700)
    path = folder / stamp(created)
    if path.exists():
        raise BackupError(f"{path} exists already")
    atomic_write(path, data, 0o600)
    digest = hashlib.sha256(data).hexdigest()
    atomic_write(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n", 0o600)
    return path


def verify_checksum(path: Path) -> bool:
    """Whether the archive still has the sha256 recorded beside it."""
    side = path.with_name(path.name + ".sha256")
    if not side.is_file():
        return False
    return side.read_text().split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_json(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(), indent=2)
