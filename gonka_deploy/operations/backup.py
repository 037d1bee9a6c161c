"""Key backups: a node's key material, encrypted, on the operator's machine; and its restore
onto a blank host before the node first starts.

The material and why: ``gonka_deploy/hostside/keyfiles.py``; the archive format and where
archives live: ``gonka_deploy/backup.py``.
Plaintext exists only in memory here and in the files on the hosts: it travels base64 over the
run's SSH connection (output never printed, stdin never logged), and no argument of a queued
command holds it (pyinfra may print those).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from pydantic import SecretStr
from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand

from ..backup import (
    VOLATILE,
    BackupError,
    DirEntry,
    FileEntry,
    Manifest,
    choose,
    read_header,
    seal,
    unseal,
    write_archive,
)
from ..facts.backup import ChainSignatures, KeyFiles, SignerProbe, keyfiles_command
from ..facts.gonka import HttpGet
from ..facts.runlock import parse_json_line
from ..secrets import (
    SecretError,
    backup_sources_hint,
    check_backup_passphrase,
    resolve_backup_passphrase,
)
from ..state import NodeState, Restore, now
from .util import describe_size, need, operation, refuse, run_on_host

CHAIN_STATUS = "http://127.0.0.1:26657/status"
# Files the services rewrite once they run (tmkms its config and signing state, the api its
# config and database): once on the host, the host's copy wins over the backup's.
REWRITTEN = VOLATILE | {".tmkms/tmkms.toml", ".dapi/api-config.yaml", ".dapi/gonka.db"}
# tmkms's double-sign guard: never restored as archived (it is as old as the archive), always
# written at the chain's current height (``fresh_signing_state``).
STATE_FILE = ".tmkms/state/priv_validator_state.json"


def identity_files(key_name: str) -> list[str]:
    """The files that make the node who it is: its consensus key, P2P key and warm key."""
    return [".tmkms/secrets/priv_validator_key.softsign", ".inference/config/node_key.json",
            f".inference/keyring-file/{key_name}.info"]


def passphrase_for(key_name: str, given: SecretStr | None, new_archive: bool = False
                   ) -> tuple[SecretStr | None, str]:
    """The backup passphrase (given, or from its sources) and, when there is none (or, for a
    new archive, it is weak), why."""
    source = "the backup passphrase given"
    if given is None:
        try:
            found = resolve_backup_passphrase(key_name)
        except SecretError as exc:
            return None, str(exc)
        if found is None:
            return None, f"no backup passphrase: {backup_sources_hint(key_name)}"
        given, source = found.value, f"the backup passphrase from {found.source}"
    if new_archive:
        try:
            check_backup_passphrase(given, source)
        except SecretError as exc:
            return None, str(exc)
    return given, ""


# --- backup ---------------------------------------------------------------------------------

def _archive(join_dir: str, key_name: str, base: dict, passphrase: SecretStr) -> bool:
    """Read the files on the host (output never printed), seal them in memory, write the
    archive 0600."""
    ok, output = run_on_host(keyfiles_command("read", join_dir, key_name))
    if not ok or not output.stdout_lines:
        logger.error(f"{host.print_prefix}reading the key material failed: "
                     f"{output.stderr[-500:]}")
        return False
    lines = output.stdout_lines
    created = now()
    try:
        listing = json.loads(lines[0])
        files = {doc["path"]: base64.b64decode(doc["data"])
                 for doc in map(json.loads, lines[1:])}
        manifest = Manifest(**base, created=created,
                            files=[FileEntry(**f) for f in listing["files"]],
                            dirs=[DirEntry(**d) for d in listing["dirs"]])
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
        logger.error(f"{host.print_prefix}the key material read from the host does not parse "
                     f"({exc.__class__.__name__}): no archive written")
        return False
    try:
        path = write_archive(key_name, created, seal(manifest, files, passphrase))
    except BackupError as exc:
        logger.error(f"{host.print_prefix}key backup failed: {exc}")
        return False
    total = sum(f.size for f in manifest.files)
    logger.info(f"{host.print_prefix}key backup written: {path} ({len(files)} files, "
                f"{describe_size(total)}); keep it and its passphrase in separate places")
    return True


def _node_keys() -> dict:
    """The node's public identity from its RPC, for the manifest (empty when it is down)."""
    found = host.get_fact(HttpGet, url=CHAIN_STATUS) or {}
    result = ((found.get("json") or {}).get("result") or {}) if found.get("status") == 200 \
        else {}
    info = result.get("validator_info") or {}
    return {"consensus_pubkey": (info.get("pub_key") or {}).get("value"),
            "validator_address": info.get("address"),
            "p2p_id": (result.get("node_info") or {}).get("id")}


@operation()
def archived(join_dir: str, key_name: str, host_name: str, node_id: str, release: str,
             public_host: str, p2p_port: int, api_port: int, ssh_hostname: str | None = None,
             passphrase: SecretStr | None = None):
    """
    Keep the node's key material, encrypted, on this machine: a new archive only when it
    changed since the newest one.

    + join_dir: deploy/join of the clone (``.tmkms``, ``.inference``, ``.dapi`` live there)
    + key_name: the node (archives go to ``backups/<key_name>/``)
    + host_name, node_id, release, public_host, p2p_port, api_port: for the manifest
    + ssh_hostname: the address the toolkit reaches the host by (a restore probes it too)
    + passphrase: the archive's passphrase (default: ``GONKA_BACKUP_PASSPHRASE[_<KEY>]`` or
      ``BACKUP_PASSPHRASE=`` in ``secrets/<key_name>.env``)

    The comparison is of the sha256s computed on the host with the newest manifest's, so an
    unchanged host is not read again. tmkms's signing state alone is no change.

    **Example:**

    .. code:: python

        backup.archived(join_dir=join, key_name="fra-01", host_name="gpu-fra-01",
                        node_id=node_id, release="v0.2.16-post1", public_host="203.0.113.7",
                        p2p_port=5000, api_port=8000)
    """
    secret, why = passphrase_for(key_name, passphrase, new_archive=True)
    if secret is None:
        yield from refuse(f"key backup: {why}")
        return
    found = need(host.get_fact(KeyFiles, join_dir=join_dir, key_name=key_name),
                 "the key material")
    if found.get("error"):
        yield from refuse(f"key backup: {found['error']}")
        return
    if found.get("missing"):
        yield from refuse(f"key backup: nothing to back up yet: {', '.join(found['missing'])} "
                          f"missing under {join_dir} (run deploys/node.py first)")
        return
    on_host = {f["path"]: f["sha256"] for f in found["files"] if f["path"] not in VOLATILE}
    latest = choose(key_name)
    if latest is not None:
        try:
            before = read_header(latest).manifest.hashes()
        except BackupError as exc:
            logger.warning(f"{host.print_prefix}{latest}: {exc}; making a new archive")
            before = {}
        if before == on_host:
            host.noop(f"key backup {latest.name} is current")
            return
        changed = sorted(p for p in set(before) | set(on_host) if before.get(p) != on_host.get(p))
        logger.info(f"{host.print_prefix}key material changed since {latest.name}: "
                    f"{', '.join(changed)}")
    total = sum(f["size"] for f in found["files"])
    verb = "writing" if state.is_executing else "would write"
    logger.info(f"{host.print_prefix}{verb} a key backup of {len(found['files'])} files "
                f"({describe_size(total)}) of {key_name}")
    base = {"host": host_name, "key_name": key_name, "node_id": node_id, "release": release,
            "public_host": public_host, "ssh_hostname": ssh_hostname, "p2p_port": p2p_port,
            "api_port": api_port,
            "warm_address": NodeState(key_name).warm_address(), **_node_keys()}
    yield FunctionCommand(_archive, (join_dir, key_name, base, secret), {})


# --- restore --------------------------------------------------------------------------------
#
# Restoring a consensus key while another host still signs with it double signs: the validator
# is slashed and jailed. Silence proves nothing (a host that is rebooting, or firewalled, or
# whose DNS name now points here, answers nothing), so a restore needs positive evidence:
# (a) the chain shows the validator signed none of its last ``check_blocks`` commits, and
# (b) no earlier restore of this node onto another host is recorded. A host that cannot be
# shown to be gone must be named destroyed by the operator (``old_host_destroyed``). The chain
# read is required in every case: without it there is no fresh height for the signing state.

def validator_address(manifest: Manifest) -> str | None:
    """The validator (consensus) address of the archive's node: the manifest's, or the one of
    its ed25519 consensus key (CometBFT: the first 20 bytes of the key's sha256, upper-case hex;
    cometbft/cometbft v0.38 crypto/ed25519/ed25519.go ``Address()``)."""
    if manifest.validator_address:
        return manifest.validator_address.upper()
    if manifest.consensus_pubkey:
        try:
            raw = base64.b64decode(manifest.consensus_pubkey, validate=True)
        except ValueError:
            return None
        if len(raw) == 32:
            return hashlib.sha256(raw).hexdigest()[:40].upper()
    return None


def chain_evidence(found: dict | None, validator: str | None, blocks: int, rpc_url: str,
                   old_host: str = "the old host") -> tuple[str | None, int | None, str]:
    """(a refusal no flag lifts, or None; the chain's latest height; what the chain showed)
    from the ``signed`` read of the chain (``ChainSignatures``)."""
    if not found:
        return (f"the chain RPC {rpc_url} could not be read from this host: no evidence that "
                "the old host stopped signing, and no fresh height for the signing state"), \
            None, ""
    if found.get("error"):
        return (f"the chain could not be read through seed_node_rpc_url ({found['error']}): "
                "no evidence that the old host stopped signing, and no fresh height for the "
                "signing state"), None, ""
    latest, low, checked = found.get("latest"), found.get("from"), found.get("checked")
    signed = found.get("signed")
    if not isinstance(latest, int) or latest < 1 or not isinstance(signed, list):
        return f"the chain RPC {rpc_url} gave no height: not restoring", None, ""
    if not validator:
        return None, latest, ""
    if not isinstance(low, int) or checked != latest - low + 1 or checked < min(blocks, latest):
        return (f"the chain RPC {rpc_url} showed {checked} commits where {blocks} were asked: "
                "not restoring"), None, ""
    if signed:
        return (f"validator {validator} (the consensus key of {old_host}) signed "
                f"{len(signed)} of the chain's last {checked} "
                f"blocks (the last at height {max(signed)}; the chain is at {latest}): a node "
                "signs with this consensus key now. Stop it for good, and restore once "
                f"{blocks} blocks pass without its signature"), latest, ""
    return None, latest, (f"validator {validator} signed none of the chain's blocks "
                          f"{low}-{latest}")


def signer_risk(manifest: Manifest) -> tuple[str | None, list[tuple[str, str]], list[str]]:
    """(a refusal no flag lifts, or None; doubts as (host, why); what was seen).

    The old host is probed from this host at its public address and at the address the toolkit
    reached it by. A node there that names this consensus key is proof of risk; P2P open
    without a key is doubt; nothing answering is no evidence either way (it may be rebooting);
    an address that is this host's own (its DNS name points here) says nothing of the old one."""
    seen_all, doubts = [], []
    for address in dict.fromkeys(a for a in (manifest.public_host, manifest.ssh_hostname) if a):
        api_url = f"http://{address}:{manifest.api_port}/chain-rpc/status"
        seen = need(host.get_fact(SignerProbe, address=address, port=manifest.p2p_port,
                                  api_url=api_url), f"the probe of {manifest.host}")
        where = f"{manifest.host} ({address}:{manifest.p2p_port})"
        theirs, ours = seen.get("rpc_pub_key"), manifest.consensus_pubkey
        if seen.get("self") or seen.get("p2p") == "self":
            seen_all.append(f"{address} is this host's own address now: it says nothing of the "
                            f"old host {manifest.host}")
            continue
        if seen.get("p2p") != "open":
            seen_all.append(f"the old host {where} answers no P2P ({seen.get('p2p')}): not "
                            "evidence on its own")
            continue
        if theirs and ours and theirs != ours:
            seen_all.append(f"the old host {where} runs a node with another consensus key")
            continue
        if theirs and theirs == ours:
            return (f"the old host {where} still accepts P2P connections and its RPC names this "
                    "consensus key: its node may sign with it"), [], seen_all
        doubts.append((manifest.host, f"the old host {where} still accepts P2P connections "
                                      "(its consensus key unknown)"))
    return None, doubts, seen_all


def recorded_doubt(key_name: str) -> tuple[str, str] | None:
    """An earlier restore of this node onto another host, recorded here: that host holds the
    consensus key until it is named destroyed."""
    record = NodeState(key_name).restore()
    if record is None or record.host == host.name:
        return None
    return record.host, (f"{Path(record.archive).name} was restored onto {record.host} at "
                         f"{record.at} (nodes/{key_name}/): that host may sign with this "
                         "consensus key")


def destroyed_names(value: str | list[str] | None) -> list[str]:
    names = value.split(",") if isinstance(value, str) else list(value or [])
    return sorted({n.strip() for n in names if n.strip()})


def fresh_signing_state(archived: bytes | None, height: int) -> bytes:
    """tmkms's signing state at ``height`` (the chain's current height, or the archive's own
    when higher), round and step zero, no block: tmkms then signs nothing below it. The
    archived file's own field types are kept (tmkms wrote them; tendermint-rs
    tendermint/src/consensus/state.rs ``State {height, round, step, block_id}``, "Serde
    serialization for KMS state file"); without one, ``{"height": "H", "round": "0",
    "step": 0}`` (height and round as strings, as tendermint-rs writes them)."""
    doc = {"height": "0", "round": "0", "step": 0}
    if archived is not None:
        try:
            doc = json.loads(archived)
            old = int(str(doc["height"]))
        except (ValueError, KeyError, TypeError):
            raise BackupError(f"{STATE_FILE} in the archive is not a signing state") from None
        if not isinstance(doc, dict):
            raise BackupError(f"{STATE_FILE} in the archive is not a signing state")
        height = max(height, old)
    out = {"height": str(height), "round": "0" if isinstance(doc.get("round", "0"), str) else 0,
           "step": 0}
    if "block_id" in doc:
        out["block_id"] = None
    return (json.dumps(out, indent=2) + "\n").encode()


def _restore(join_dir: str, key_name: str, path: str, passphrase: SecretStr,
             missing: list[str], check: dict) -> bool:
    """Decrypt in memory, read the chain again (the old host may have come back since the
    plan), and place the missing files on the host (over stdin), verified; tmkms's signing
    state is written at the chain's current height, never the archive's."""
    try:
        manifest, files = unseal(Path(path).read_bytes(), passphrase)
    except (OSError, BackupError) as exc:
        logger.error(f"{host.print_prefix}{path}: {exc}")
        return False
    validator, blocks, rpc = check.get("validator"), int(check["blocks"]), check["rpc_url"]
    ok, output = run_on_host(keyfiles_command("signed", rpc, validator or "", str(blocks)))
    found = parse_json_line(output.stdout_lines) if ok else None
    refusal, height, _ = chain_evidence(found, validator, blocks, rpc, manifest.host)
    if refusal:
        logger.error(f"{host.print_prefix}restore refused: {refusal}")
        return False
    height = max(height, int(check.get("height") or 0))
    entries = {f.path: f for f in manifest.files}
    contents = {p: files[p] for p in missing if p in files}
    modes = {p: entries[p].mode for p in contents}
    if STATE_FILE in missing:
        try:
            contents[STATE_FILE] = fresh_signing_state(files.get(STATE_FILE), height)
        except BackupError as exc:
            logger.error(f"{host.print_prefix}restore refused: {exc}")
            return False
        modes[STATE_FILE] = entries[STATE_FILE].mode if STATE_FILE in entries else 0o600
    doc = {"dirs": [d.model_dump() for d in manifest.dirs],
           "files": [{"path": p, "mode": modes[p], "sha256": hashlib.sha256(data).hexdigest(),
                      "data": base64.b64encode(data).decode()} for p, data in contents.items()]}
    record = Restore(
        archive=str(path), archive_created=manifest.created, from_host=manifest.host,
        host=host.name, at=now(), files=sorted(contents),
        old_host_destroyed=list(check.get("destroyed") or []), chain_height=height,
        signing_state_height=height if STATE_FILE in contents else None, complete=False)
    # Recorded before the first byte reaches the host: a run cut after the write still names
    # this host as holding the consensus key, so no other host gets it without the flag.
    node = NodeState(key_name)
    node.set_restore(record)
    ok, output = run_on_host(keyfiles_command("write", join_dir), stdin=json.dumps(doc))
    result = parse_json_line(output.stdout_lines) or {}
    if not ok or not result.get("ok"):
        logger.error(f"{host.print_prefix}restore failed: "
                     f"{result.get('error') or output.stderr[-500:]}")
        return False
    node.set_restore(record.model_copy(update={"complete": True}))
    logger.info(f"{host.print_prefix}restored {len(contents)} files of {key_name} from {path} "
                f"(made {manifest.created} on {manifest.host}), sha256 checked on the host"
                + (f"; tmkms's signing state set to height {height}" if STATE_FILE in contents
                   else ""))
    return True


@operation()
def restored(join_dir: str, key_name: str, choice: str = "latest",
             passphrase: SecretStr | None = None, rpc_url: str | None = None,
             check_blocks: int = 300, old_host_destroyed: str | list[str] | None = None):
    """
    On a blank host whose node has a backup here, put the backed-up key material in place
    before tmkms and the node first start: the node keeps its consensus key, P2P identity,
    warm key and worker key, so no new key is made and it is not registered again.

    + join_dir: deploy/join of the clone
    + key_name: the node (its archives are in ``backups/<key_name>/``)
    + choice: ``latest``, an archive's file name, or ``never`` (make new keys)
    + passphrase: the archives' passphrase (default: from its sources, see ``secrets.py``)
    + rpc_url: the chain RPC the host uses (``seed_node_rpc_url``), read from the host
    + check_blocks: how many of the chain's latest commits must lack the validator's signature
    + old_host_destroyed: the hosts (names, or one comma-separated string) the operator knows
      destroyed: lifts the doubts about them, never a chain that shows the key signing

    A host that has its own keys is left alone. Missing files of an interrupted restore are
    completed; a file that exists is never replaced. A consensus key is restored only on
    positive evidence that no other host signs with it: the chain shows its validator signed
    none of the last ``check_blocks`` blocks, and no restore onto another host is recorded (or
    that host is named destroyed). tmkms's signing state is written at the chain's height.

    **Example:**

    .. code:: python

        backup.restored(join_dir=join, key_name="fra-01",
                        rpc_url="http://node2.gonka.ai:8000/chain-rpc/")
    """
    if choice == "never":
        host.noop("restore_backup is never: the node makes its own keys")
        return
    try:
        path = choose(key_name, choice)
        header = read_header(path) if path is not None else None
    except (OSError, BackupError) as exc:
        yield from refuse(f"restore: {exc}")
        return
    if path is None or header is None:
        host.noop(f"no key backup of {key_name}: the node makes its own keys")
        return
    manifest = header.manifest
    if manifest.key_name != key_name:
        yield from refuse(f"restore: {path} holds {manifest.key_name}'s keys, not {key_name}'s")
        return
    found = need(host.get_fact(KeyFiles, join_dir=join_dir, key_name=key_name),
                 "the key material")
    if found.get("error"):
        yield from refuse(f"restore: {found['error']}")
        return
    on_host = {f["path"]: f["sha256"] for f in found["files"]}
    wanted = manifest.hashes(volatile=True)
    own = [p for p in identity_files(key_name) if p in on_host and on_host[p] != wanted.get(p)]
    if own:
        logger.warning(f"{host.print_prefix}the host has its own keys ({', '.join(own)} differ "
                       f"from {path.name}): not restoring")
        host.noop(f"the host has its own keys, not {path.name}'s")
        return
    conflicts = [p for p in wanted if p in on_host and on_host[p] != wanted[p]
                 and p not in REWRITTEN]
    if conflicts:
        yield from refuse(f"restore: {', '.join(conflicts)} on the host differ from {path.name} "
                          "while its identity files match: not mixing key material")
        return
    # tmkms's signing state is written fresh when missing, even if the archive has none
    missing = sorted({p for p in wanted if p not in on_host}
                     | ({STATE_FILE} if STATE_FILE not in on_host else set()))
    if not [p for p in missing if p != STATE_FILE]:
        host.noop(f"the key material of {path.name} is in place")
        return
    secret, why = passphrase_for(key_name, passphrase)
    if secret is None:
        yield from refuse(f"restore from {path}: {why}")
        return
    try:
        unseal(path.read_bytes(), secret)  # the passphrase and the archive, checked up front
    except BackupError as exc:
        yield from refuse(f"restore from {path}: {exc}")
        return
    validator = validator_address(manifest)
    if not rpc_url:
        yield from refuse("restore: no chain RPC to read (rpc_url): no evidence that the old "
                          "host stopped signing")
        return
    chain = host.get_fact(ChainSignatures, rpc_url=rpc_url, validator_address=validator or "",
                          blocks=check_blocks)
    refusal, height, seen_chain = chain_evidence(chain, validator, check_blocks, rpc_url,
                                                 manifest.host)
    if refusal:
        yield from refuse(f"restore: {refusal}")
        return
    refusal, doubts, seen = signer_risk(manifest)
    if refusal:
        yield from refuse(f"restore: {refusal}. Stop it for good (its tmkms and node, or the "
                          "host) first")
        return
    if not validator:
        doubts.append((manifest.host, f"{path.name} names no validator address: the chain "
                                      f"cannot show whether {manifest.host} still signs"))
    recorded = recorded_doubt(key_name)
    if recorded:
        doubts.append(recorded)
    destroyed = destroyed_names(old_host_destroyed)
    unresolved = [(h, why) for h, why in doubts if h not in destroyed]
    if unresolved:
        hosts = ",".join(sorted({h for h, _ in unresolved}))
        yield from refuse(f"restore: no positive evidence that no other host signs with this "
                          f"consensus key: {'; '.join(why for _, why in unresolved)}. Once "
                          f"{hosts} is destroyed for good (or its tmkms and node are gone), "
                          f"name it: --data old_host_destroyed={hosts}")
        return
    for named, why in doubts:
        logger.warning(f"{host.print_prefix}{why}; restoring anyway: {named} is named "
                       "destroyed (old_host_destroyed)")
    for line in [seen_chain, *seen]:
        if line:
            logger.info(f"{host.print_prefix}{line}")
    verb = "restoring" if state.is_executing else "would restore"
    fresh = (f"; tmkms's signing state at height {height} or above" if STATE_FILE in missing
             else "")
    logger.info(f"{host.print_prefix}{verb} {len(missing)} files of {key_name} from "
                f"{path.name} (made {manifest.created} on {manifest.host}): "
                f"{', '.join(missing)}{fresh}")
    check = {"rpc_url": rpc_url, "validator": validator, "blocks": check_blocks,
             "height": height, "destroyed": [d for d in destroyed if d in {h for h, _ in doubts}]}
    yield FunctionCommand(_restore, (join_dir, key_name, str(path), secret, missing, check), {})
