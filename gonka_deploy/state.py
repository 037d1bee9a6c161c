"""Local state on the operator's machine: ``nodes/<key_name>/`` (gitignored). This module is its
one owner: nothing else knows a file name in there.

What a run learns about a host is a typed record (pydantic, validated on read and on write):
the node's identity, its warm address (and, opted in, the mnemonic), the registration, the grant,
the MLNode upgrade history, the MLNode image swaps, a restore from a key backup, the last
verification, the last report and the audit log.

Writes are atomic (temp file in the same folder, fsync, rename, fsync of the folder), so a crash
never leaves a half-written file; anything that may carry a secret is written 0600. Writes
happen at execute time only: inside a pyinfra run that is not executing (``--dry``, or the
preview before ``-y`` is answered) a write raises :class:`DryRunWrite`. The node identity is the
one exception: it must exist for a dry run's diff to be true.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .schema import MLNodeVersion

STATE_DIR_ENV = "GONKA_STATE_DIR"

# The files of a node's folder, by record. Only this module names them.
_IDENTITY = "identity.json"
_WARM_ADDRESS = "warm_address.txt"
_WARM_MNEMONIC = "warm_mnemonic.txt"
_REGISTRATION = "registration.json"
_GRANT = "grant.json"
_UPGRADES = "mlnode_upgrade.json"
_SWAPS = "mlnode_swap.json"
_VERIFICATION = "verification.json"
_REPORT = "report.txt"
_RESTORE = "restore.json"
_PARTICIPATION = "participation.json"
_AUDIT = "audit.jsonl"


class DryRunWrite(RuntimeError):
    """Local state was about to be written by a run that must not change anything."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identity(Record):
    key_name: str
    node_id: str
    created: str

    @field_validator("node_id")
    @classmethod
    def _uuid4(cls, value: str) -> str:
        if uuid.UUID(value).version != 4:
            raise ValueError("node_id is not a UUID v4")
        return value


class Registration(Record):
    registered_by: Literal["gonka-deploy", "found on the seed api"]
    at: str
    output: str | None = None          # the CLI's output when this toolkit registered
    participant: dict | None = None    # the seed api's record when it was found there


class Grant(Record):
    warm_address: str
    command: list[str]
    output: str
    at: str


class UpgradeStage(Record):
    stage: Literal["prepare", "cleanup"]
    before: list[MLNodeVersion]
    after: list[MLNodeVersion]
    at: str
    undone: str | None = None


class UpgradeHistory(Record):
    history: list[UpgradeStage] = Field(default_factory=list)


class ImageSwap(Record):
    """One guarded MLNode image swap of a compose service: written before the first change,
    so a run cut in the middle is resumed (or rolled back) by the next one."""

    service: str
    previous: str            # the image the container ran before the swap (the rollback's)
    target: str
    nodes: list[str]         # the ML nodes this service serves (disabled, then enabled)
    started: str
    step: Literal["started", "disabled", "recreated", "done", "rolled back"] = "started"
    finished: str | None = None
    failure: str | None = None   # why the last attempt rolled back


class ImageSwaps(Record):
    swaps: dict[str, ImageSwap] = Field(default_factory=dict)   # by compose service


class Restore(Record):
    """Key material put on a blank host from a backup (``deploys/node.py`` phase 4). While it
    exists, ``host`` holds the node's consensus key: a restore onto any other host is refused
    until the operator names ``host`` as destroyed (``old_host_destroyed``)."""
    archive: str
    archive_created: str
    from_host: str
    host: str
    at: str
    files: list[str]
    consensus_key_reuse_allowed: bool = False   # records of older versions (a bare flag)
    old_host_destroyed: list[str] = Field(default_factory=list)  # hosts named destroyed
    chain_height: int | None = None      # the chain's height the restore was checked at
    signing_state_height: int | None = None   # the height of the signing state written
    # False from just before the files are written until they are checked on the host: a run
    # cut between the two still leaves this host named as holding the key (the safe side)
    complete: bool = True


class Check(Record):
    name: str
    ok: bool | None       # None: a warning
    detail: str = ""


class Verification(Record):
    host: str
    at: str
    ok: bool
    summary: str
    checks: list[Check]


class SentTx(Record):
    """A participation transaction this toolkit sent (the chain decides; this is for the
    report and to never send a transaction twice while one is unresolved).

    ``status``: "sent" (it may have been broadcast; its fate is unknown), "confirmed" (in a
    block, code 0), "rejected" (the chain's definite no: a CheckTx or block code), "failed"
    (the command failed: whether it was broadcast is unknown, as for "sent")."""

    kind: Literal["intent", "delegation", "refusal", "collateral"]
    signer: Literal["warm", "cold"]
    model: str | None = None
    amount: str | None = None          # a coin string, for a deposit
    command: list[str]                 # argv without any secret
    txhash: str | None = None
    status: Literal["sent", "confirmed", "rejected", "failed"]
    detail: str = ""
    at: str
    # written before the command runs, so a run cut before its hash is known still shows it;
    # later records of the same send replace it (``NodeState.record_sent``)
    id: str | None = None
    # a deposit: the collateral the chain holds once it counts (what it held before + amount)
    expect_ngonka: int | None = None


class ParticipationCheck(Record):
    name: str
    ok: bool | None       # None: a warning
    detail: str = ""
    fix: list[str] = Field(default_factory=list)


class Participation(Record):
    sent: list[SentTx] = Field(default_factory=list)
    checked_at: str | None = None
    checks: list[ParticipationCheck] = Field(default_factory=list)


class AuditEntry(Record):
    at: str
    who: str
    host: str
    changes: list[str]
    failed: list[str] = Field(default_factory=list)


def state_root() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, "nodes"))


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _check_may_write() -> None:
    """Refuse a write from inside a pyinfra run that is not executing (``--dry``)."""
    from pyinfra.context import ctx_state

    if not ctx_state.isset():
        return  # outside pyinfra (the CLI, tests): the caller decides
    from .factcache import WritesAhead, reading_ahead

    if reading_ahead():  # an operation evaluated ahead of its run (factcache.py)
        raise WritesAhead()
    run = ctx_state.get()
    if not getattr(run, "is_executing", True):
        raise DryRunWrite("local state must not be written before the run executes")


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # before any byte is written: a secret is never world-readable
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class NodeState:
    """Everything this machine knows about one node, read and written through typed records.

    .. code:: python

        node = NodeState("fra-01")
        node.identity().node_id
        node.warm_address()              # None until the warm key exists
        node.set_warm_address("gonka1…") # at execute time only
    """

    def __init__(self, key_name: str, root: Path | None = None):
        self.key_name = key_name
        self.dir = (root or state_root()) / key_name

    # --- plumbing ---
    def _path(self, name: str) -> Path:
        return self.dir / name

    def _read_text(self, name: str) -> str | None:
        path = self._path(name)
        return path.read_text() if path.exists() else None

    def _read(self, name: str, model: type[Record]):
        text = self._read_text(name)
        return model.model_validate_json(text) if text is not None else None

    def _write(self, name: str, text: str, secret: bool = False) -> None:
        _check_may_write()
        atomic_write(self._path(name), text, 0o600 if secret else 0o644)

    def _write_record(self, name: str, record: Record, secret: bool = False) -> None:
        self._write(name, record.model_dump_json(indent=2) + "\n", secret)

    def designated_secret_files(self) -> set[Path]:
        """The files of this folder that may hold a secret (0600): the opted-in mnemonic."""
        return {self._path(_WARM_MNEMONIC)}

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the folder and its bytes (for tests that prove nothing changed)."""
        if not self.dir.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.dir.iterdir()) if p.is_file()}

    # --- identity: made once, the one record a dry run may create ---
    def identity(self) -> Identity:
        """The node's persistent identity: a UUID v4 made once per key_name, never regenerated
        while it exists (also in a dry run: the diff of the first run names it)."""
        found = self._read(_IDENTITY, Identity)
        if found is not None:
            return found
        made = Identity(key_name=self.key_name, node_id=str(uuid.uuid4()), created=now())
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:  # O_EXCL: a concurrent run that won the race keeps its id
            fd = os.open(self._path(_IDENTITY), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return self._read(_IDENTITY, Identity)
        with os.fdopen(fd, "w") as handle:
            handle.write(made.model_dump_json(indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return made

    # --- the warm key ---
    def warm_address(self) -> str | None:
        text = self._read_text(_WARM_ADDRESS)
        return (text or "").strip() or None

    def set_warm_address(self, address: str) -> None:
        self._write(_WARM_ADDRESS, address.strip() + "\n")

    def has_mnemonic(self) -> bool:
        return self._path(_WARM_MNEMONIC).exists()

    def save_mnemonic(self, mnemonic: str) -> None:
        """Kept only when the operator opts in (``save_warm_mnemonic``); 0600."""
        self._write(_WARM_MNEMONIC, mnemonic.strip() + "\n", secret=True)

    def mnemonic(self) -> str | None:
        text = self._read_text(_WARM_MNEMONIC)
        return text.strip() if text is not None else None

    # --- registration and grant ---
    def registration(self) -> Registration | None:
        return self._read(_REGISTRATION, Registration)

    def set_registration(self, record: Registration) -> None:
        self._write_record(_REGISTRATION, record)

    def grant(self) -> Grant | None:
        return self._read(_GRANT, Grant)

    def set_grant(self, record: Grant) -> None:
        self._write_record(_GRANT, record)

    # --- MLNode upgrade history (the rollback's memory) ---
    def upgrades(self) -> UpgradeHistory:
        return self._read(_UPGRADES, UpgradeHistory) or UpgradeHistory()

    def set_upgrades(self, record: UpgradeHistory) -> None:
        self._write_record(_UPGRADES, record)

    # --- MLNode image swaps (a cut swap's memory) ---
    def swaps(self) -> ImageSwaps:
        return self._read(_SWAPS, ImageSwaps) or ImageSwaps()

    def set_swap(self, record: ImageSwap) -> None:
        """Replace the record of ``record.service``."""
        current = self.swaps()
        self._write_record(_SWAPS, ImageSwaps(swaps={**current.swaps,
                                                     record.service: record}))

    # --- restore from a key backup ---
    def restore(self) -> Restore | None:
        return self._read(_RESTORE, Restore)

    def set_restore(self, record: Restore) -> None:
        self._write_record(_RESTORE, record)

    # --- verification and report ---
    def verification(self) -> Verification | None:
        return self._read(_VERIFICATION, Verification)

    def set_verification(self, record: Verification) -> None:
        self._write_record(_VERIFICATION, record)

    def report(self) -> str | None:
        return self._read_text(_REPORT)

    def set_report(self, text: str) -> None:
        self._write(_REPORT, text)

    # --- PoC participation, collateral, fees: what was sent, what the chain lacks ---
    def participation(self) -> Participation:
        return self._read(_PARTICIPATION, Participation) or Participation()

    def record_sent(self, tx: SentTx) -> None:
        """Add ``tx``, or replace the entry of the same send (the same ``id``, or the same hash):
        its outcome is now known."""
        known = self.participation()
        sent = [s for s in known.sent if not (tx.txhash and s.txhash == tx.txhash)
                and not (tx.id and s.id == tx.id)]
        self._write_record(_PARTICIPATION, known.model_copy(update={"sent": [*sent, tx]}))

    def recorded_txs(self, kind: str | None = None) -> list[SentTx]:
        """The transactions this machine recorded for the node (of ``kind``), oldest first."""
        return [s for s in self.participation().sent if kind is None or s.kind == kind]

    def set_participation_checks(self, checks: list[ParticipationCheck]) -> None:
        known = self.participation()
        self._write_record(_PARTICIPATION, known.model_copy(update={"checked_at": now(),
                                                                    "checks": checks}))

    # --- audit: append-only, one line per applied host per run ---
    def append_audit(self, host: str, changes: list[str], failed: list[str] | None = None
                     ) -> AuditEntry:
        _check_may_write()
        entry = AuditEntry(at=now(), who=_who(), host=host, changes=changes,
                           failed=failed or [])
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._path(_AUDIT), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(json.dumps(entry.model_dump(), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def audit(self) -> list[AuditEntry]:
        text = self._read_text(_AUDIT) or ""
        return [AuditEntry.model_validate_json(line) for line in text.splitlines() if line]


def identity(key_name: str) -> Identity:
    """Shortcut: the node identity of ``key_name`` (made once)."""
    return NodeState(key_name).identity()
