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
from ..facts.backup import KeyFiles, SignerProbe, keyfiles_command
from ..facts.gonka import HttpGet
from ..secrets import SecretError, backup_sources_hint, resolve_backup_passphrase
from ..state import NodeState, Restore, now
from .util import describe_size, need, operation, refuse, run_on_host

CHAIN_STATUS = "http://127.0.0.1:26657/status"
# Files the services rewrite once they run (tmkms its config and signing state, the api its
# config and database): once on the host, the host's copy wins over the backup's.
REWRITTEN = VOLATILE | {".tmkms/tmkms.toml", ".dapi/api-config.yaml", ".dapi/gonka.db"}
REUSE_FLAG = "--data allow_consensus_key_reuse=true"


def identity_files(key_name: str) -> list[str]:
    """The files that make the node who it is: its consensus key, P2P key and warm key."""
    return [".tmkms/secrets/priv_validator_key.softsign", ".inference/config/node_key.json",
            f".inference/keyring-file/{key_name}.info"]


def passphrase_for(key_name: str, given: SecretStr | None) -> tuple[SecretStr | None, str]:
    """The backup passphrase (given, or from its sources) and, when there is none, why."""
    if given is not None:
        return given, ""
    try:
        found = resolve_backup_passphrase(key_name)
    except SecretError as exc:
        return None, str(exc)
    if found is None:
        return None, f"no backup passphrase: {backup_sources_hint(key_name)}"
    return found.value, ""


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
    listing = json.loads(lines[0])
    files = {doc["path"]: base64.b64decode(doc["data"]) for doc in map(json.loads, lines[1:])}
    created = now()
    manifest = Manifest(**base, created=created,
                        files=[FileEntry(**f) for f in listing["files"]],
                        dirs=[DirEntry(**d) for d in listing["dirs"]])
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
    secret, why = passphrase_for(key_name, passphrase)
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

def signer_risk(manifest: Manifest) -> tuple[str | None, str]:
    """(why restoring the consensus key may double sign, or None; what was seen).

    The old host is probed from this host at its public address and at the address the toolkit
    reached it by: when its DNS name already points here, the other still finds it."""
    seen_all = []
    for address in dict.fromkeys(a for a in (manifest.public_host, manifest.ssh_hostname) if a):
        api_url = f"http://{address}:{manifest.api_port}/chain-rpc/status"
        seen = need(host.get_fact(SignerProbe, address=address, port=manifest.p2p_port,
                                  api_url=api_url), f"the probe of {manifest.host}")
        where = f"{manifest.host} ({address}:{manifest.p2p_port})"
        theirs, ours = seen.get("rpc_pub_key"), manifest.consensus_pubkey
        if seen.get("p2p") != "open":
            seen_all.append(f"the old host {where} runs no node (P2P {seen.get('p2p')})")
            continue
        if theirs and ours and theirs != ours:
            seen_all.append(f"the old host {where} runs a node with another consensus key")
            continue
        named = " and its RPC names this consensus key" if theirs and theirs == ours else ""
        return (f"the old host {where} still accepts P2P connections{named}: its node may be "
                "signing with this consensus key"), ""
    return None, "; ".join(seen_all)


def _restore(join_dir: str, key_name: str, path: str, passphrase: SecretStr,
             missing: list[str], allowed: bool) -> bool:
    """Decrypt in memory and place the missing files on the host (over stdin), verified."""
    try:
        manifest, files = unseal(Path(path).read_bytes(), passphrase)
    except (OSError, BackupError) as exc:
        logger.error(f"{host.print_prefix}{path}: {exc}")
        return False
    entries = {f.path: f for f in manifest.files}
    doc = {"dirs": [d.model_dump() for d in manifest.dirs],
           "files": [{"path": p, "mode": entries[p].mode, "sha256": entries[p].sha256,
                      "data": base64.b64encode(files[p]).decode()} for p in missing]}
    ok, output = run_on_host(keyfiles_command("write", join_dir), stdin=json.dumps(doc))
    result = json.loads(output.stdout_lines[-1]) if output.stdout_lines else {}
    if not ok or not result.get("ok"):
        logger.error(f"{host.print_prefix}restore failed: "
                     f"{result.get('error') or output.stderr[-500:]}")
        return False
    NodeState(key_name).set_restore(Restore(
        archive=str(path), archive_created=manifest.created, from_host=manifest.host,
        host=host.name, at=now(), files=sorted(missing), consensus_key_reuse_allowed=allowed))
    logger.info(f"{host.print_prefix}restored {len(missing)} files of {key_name} from {path} "
                f"(made {manifest.created} on {manifest.host}), sha256 checked on the host")
    return True


@operation()
def restored(join_dir: str, key_name: str, choice: str = "latest",
             passphrase: SecretStr | None = None, allow_reuse: bool = False):
    """
    On a blank host whose node has a backup here, put the backed-up key material in place
    before tmkms and the node first start: the node keeps its consensus key, P2P identity,
    warm key and worker key, so no new key is made and it is not registered again.

    + join_dir: deploy/join of the clone
    + key_name: the node (its archives are in ``backups/<key_name>/``)
    + choice: ``latest``, an archive's file name, or ``never`` (make new keys)
    + passphrase: the archives' passphrase (default: from its sources, see ``secrets.py``)
    + allow_reuse: restore the consensus key even while the old host may still sign with it

    A host that has its own keys is left alone. Missing files of an interrupted restore are
    completed; a file that exists is never replaced. Restoring a consensus key while its old
    host (from the manifest) still accepts P2P connections is refused: two signers with one
    key double sign, and the validator is slashed and jailed.

    **Example:**

    .. code:: python

        backup.restored(join_dir=join, key_name="fra-01")
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
    missing = sorted(p for p in wanted if p not in on_host)
    if not missing:
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
    risk, seen = signer_risk(manifest)
    if risk and not allow_reuse:
        yield from refuse(f"restore: {risk}. Stop it first (its tmkms and node, or the host), "
                          f"or accept the risk of double signing (slashing and jailing) with "
                          f"{REUSE_FLAG}")
        return
    if risk:
        logger.warning(f"{host.print_prefix}DANGER: {risk}; restoring anyway because "
                       f"allow_consensus_key_reuse is set: if both nodes sign, the validator "
                       "double signs and is slashed and jailed")
    else:
        logger.info(f"{host.print_prefix}{seen}")
    verb = "restoring" if state.is_executing else "would restore"
    logger.info(f"{host.print_prefix}{verb} {len(missing)} files of {key_name} from "
                f"{path.name} (made {manifest.created} on {manifest.host}): {', '.join(missing)}")
    yield FunctionCommand(_restore, (join_dir, key_name, str(path), secret, missing,
                                     bool(risk)), {})
