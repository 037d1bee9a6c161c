"""``gonka-deploy status``: one view of the fleet, read-only, every host in parallel.

Per host ONE SSH session runs the host-side probe (``hostside/status_probe.py``, on stdin, as
root through ``sudo -n`` when the login user is not root): it gathers everything locally and
prints one JSON document. The controller turns it into a :class:`HostStatus` (the documented
JSON schema), judges it against the host's ``health`` thresholds and prints a table. A host
that does not answer within ``--timeout`` is unreachable; it never holds the others.

Unhealthy (exit 1, each host named with its reasons):
- unreachable: SSH failed or the probe did not answer within the timeout;
- the probe's document does not parse (:class:`ProbeDocument`: a height of ``"1000"``, a list
  where a reading goes, a reading missing): the fields named, nothing of it judged;
- chain: the RPC does not answer, the node container is not running, the latest block is
  older than ``health.max_block_age_s`` while not catching up (stalled), more than
  ``health.max_lag_blocks`` behind the seed while not catching up (lagging), or still catching
  up after the node container has run ``health.catching_up_max_s``;
- participation: not registered on the seed api, not in the current epoch, missed requests
  above ``health.max_missed_pct`` % of the epoch's requests;
- an ML node of the inventory unknown to the admin api, or not serving (state other than
  INFERENCE/POC/TRAINING, or disabled);
- fewer GPUs than ``gpu.count`` (or nvidia-smi failing), data disk free below
  ``health.min_free_gb``.
A reading the host could not make because the seed did not answer is a warning, not a verdict
on the host. Release drift is shown, never unhealthy (``render`` and the deploys report it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .address import account_address
from .hostside import source
from .schema import HostConfig

DEFAULT_TIMEOUT = 30.0
MAX_PARALLEL = 64


# --- the JSON schema (README, "Fleet status") ----------------------------------------------

class ChainStatus(BaseModel):
    height: int | None = None
    seed_height: int | None = None
    lag: int | None = Field(None, description="blocks behind the seed")
    catching_up: bool | None = None
    block_age_s: float | None = None
    node_running: bool | None = None
    node_started_at: str | None = None


class Versions(BaseModel):
    node_binary: str | None = Field(None, description="the running node's application version "
                                    "(chain RPC `/abci_info`: cosmovisor's current binary)")
    node: str | None = Field(None, description="the node's version, api `/v1/versions`")
    api: str | None = Field(None, description="the api's version, api `/v1/versions`")


class ParticipantStatus(BaseModel):
    address: str
    registered: bool | None = None
    status: str | None = None
    epoch_id: int | None = None
    in_epoch: bool | None = None
    weight: int | None = None
    inference_count: int | None = None
    missed_requests: int | None = None
    missed_pct: float | None = None


class MLNodeStatus(BaseModel):
    id: str
    state: str = Field(description="admin api current_status (MISSING: unknown to the api)")
    enabled: bool | None = None
    serving: bool = False
    version: str | None = None
    image: str | None = Field(None, description="image of its compose service")
    models: list[str] = Field(default_factory=list)
    failure_reason: str | None = None


class GpuStatus(BaseModel):
    seen: int | None = None
    expected: int
    names: list[str] = Field(default_factory=list)


class DiskStatus(BaseModel):
    path: str
    free_gb: float | None = None
    total_gb: float | None = None


class LastApply(BaseModel):
    at: str
    who: str
    changes: int
    failed: list[str] = Field(default_factory=list)


class HostStatus(BaseModel):
    host: str
    key_name: str
    reachable: bool
    healthy: bool
    problems: list[str] = Field(default_factory=list, description="why the host is unhealthy")
    warnings: list[str] = Field(default_factory=list)
    elapsed_s: float
    release: str
    chain: ChainStatus = Field(default_factory=ChainStatus)
    versions: Versions = Field(default_factory=Versions)
    participant: ParticipantStatus
    mlnodes: list[MLNodeStatus] = Field(default_factory=list)
    gpus: GpuStatus
    disk: DiskStatus
    last_apply: LastApply | None = None
    drift: list[str] = Field(default_factory=list)
    readings: dict[str, dict] = Field(default_factory=dict, description="the probe's raw "
                                      "document (diagnostics; each reading with `took_s`)")


class FleetStatus(BaseModel):
    generated_at: str
    healthy: bool
    elapsed_s: float
    hosts: list[HostStatus]


# --- the probe's document (hostside/status_probe.py), as the controller reads it ------------
#
# Strict types: a height of "1000", a GPU count of "4" or a list where a reading's object goes
# is a document this controller did not write the probe for, never a value to compare. Every
# reading must be there (the probe always prints all of them); a reading that failed on the
# host carries only its ``error`` (and ``took_s``), so its values default to unknown. Extra
# keys are allowed: a newer probe may say more.

class _Reading(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    error: str | None = None
    took_s: float | None = None


class _Item(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class ChainReading(_Reading):
    height: int | None = Field(None, ge=0)
    catching_up: bool | None = None
    block_age_s: float | None = None


class SeedHeightReading(_Reading):
    height: int | None = Field(None, ge=0)


class ContainerReading(_Item):
    id: str | None = None
    image: str | None = None
    running: bool | None = None
    started_at: str | None = None


class ContainersReading(_Reading):
    services: dict[str, ContainerReading] = Field(default_factory=dict)


class VersionsReading(_Reading):
    node_binary: str | None = None
    node: str | None = None
    api: str | None = None


class ParticipantReading(_Reading):
    registered: bool | None = None
    status: str | None = None
    inference_count: int | None = Field(None, ge=0)
    missed_requests: int | None = Field(None, ge=0)


class EpochReading(_Reading):
    epoch_id: int | None = Field(None, ge=0)
    in_epoch: bool | None = None
    weight: int | None = Field(None, ge=0)


class MLNodeReading(_Item):
    id: str | None = None
    state: str | None = None
    enabled: bool | None = None
    serving: bool
    version: str | None = None
    models: list[str] = Field(default_factory=list)
    failure_reason: str | None = None


class MLNodesReading(_Reading):
    nodes: list[MLNodeReading] = Field(default_factory=list)


class GpusReading(_Reading):
    count: int | None = Field(None, ge=0)
    names: list[str] = Field(default_factory=list)


class DiskReading(_Reading):
    path: str | None = None
    free_bytes: int | None = Field(None, ge=0)
    total_bytes: int | None = Field(None, ge=0)


class CloneReading(_Reading):
    head: str | None = None
    sha256: dict[str, str] = Field(default_factory=dict)


class ProbeDocument(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    chain: ChainReading
    seed_height: SeedHeightReading
    containers: ContainersReading
    versions: VersionsReading
    participant: ParticipantReading
    epoch: EpochReading
    mlnodes: MLNodesReading
    gpus: GpusReading
    disk: DiskReading
    clone: CloneReading


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:40] + "..."


def parse_probe(doc: Any) -> tuple[ProbeDocument | None, str | None]:
    """(the typed document, None) or (None, why it does not parse: each field by its path)."""
    try:
        return ProbeDocument.model_validate(doc), None
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        why = [f"{'.'.join(str(part) for part in e['loc']) or 'document'}: {e['msg']}"
               + (f" (got {_shown(e['input'])})" if e["type"] != "missing" else "")
               for e in errors[:3]]
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        return None, "probe document does not parse: " + "; ".join(why) + more


# --- one host over SSH -----------------------------------------------------------------------

def probe_args(config: HostConfig, clone_files: list[str] | None = None) -> dict:
    return {"join_dir": config.join_dir, "data_mount": config.data_mount,
            "api_port": config.api_port, "seed_api_url": config.seed_api_url,
            "account_address": account_address(config.account_pubkey),
            "timeout": 5, "clone_path": config.gonka_path, "clone_files": clone_files or []}


# Key exchange first tried by status's sessions, then the client's defaults, so any server still
# connects (ssh_config(5): a list that begins with "^" goes at the head of the default set).
# OpenSSH 9's default, sntrup761x25519-sha512, is post-quantum: measured here 67 ms of client
# CPU per connection against 6 ms for curve25519-sha256, most of a 20-host status' controller
# time. A status session carries no secret (the probe reads none, prints readings), so it has
# nothing for a later quantum attack to decrypt; deploys go through pyinfra (paramiko, which
# has no sntrup761) anyway.
STATUS_KEX = "^curve25519-sha256,curve25519-sha256@libssh.org"


@functools.cache
def kex_options() -> tuple[str, ...]:
    """``-o KexAlgorithms=^…`` when this machine's ssh takes it (``ssh -G`` parses the option
    and connects nowhere; an older client refuses the "^" form), else nothing."""
    try:
        p = subprocess.run(["ssh", "-G", "-o", f"KexAlgorithms={STATUS_KEX}", "status.invalid"],
                           capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return ("-o", f"KexAlgorithms={STATUS_KEX}") if p.returncode == 0 else ()


def ssh_argv(name: str, data: dict, timeout: float, options: tuple[str, ...] = ()) -> list[str]:
    """``ssh`` with the inventory's connection data (pyinfra's ``ssh_*`` keys)."""
    argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(min(timeout, 10)))}",
            "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
            *options]
    if data.get("ssh_port"):
        argv += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        argv += ["-i", str(data["ssh_key"])]
    if data.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    strict = data.get("ssh_strict_host_key_checking")
    if strict is not None:
        value = "no" if strict in (False, "off", "no") else strict
        argv += ["-o", f"StrictHostKeyChecking={value}"]
    user = data.get("ssh_user")
    target = str(data.get("ssh_hostname") or name)
    argv.append(f"{user}@{target}" if user else target)
    return argv


def remote_command(args: dict, sudo: bool) -> str:
    """The command line the host's shell runs: python3 reading the probe from stdin."""
    words = (["sudo", "-n"] if sudo else []) + ["python3", "-", json.dumps(args)]
    return " ".join(shlex.quote(w) for w in words)


def run_probe(name: str, data: dict, args: dict, timeout: float,
              options: tuple[str, ...] = ()) -> tuple[dict | None, str | None]:
    """(the probe's document, None) or (None, why the host is unreachable)."""
    sudo = bool(data.get("_sudo")) and data.get("ssh_user") not in (None, "root")
    argv = ssh_argv(name, data, timeout, options) + [remote_command(args, sudo)]
    # Its own process group: on a timeout the whole group goes (ssh and anything it started,
    # a ProxyCommand say), so nothing holds the pipes open past the bound.
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(source("status_probe.py"), timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, f"no answer within {timeout:g} s"
    p = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if p.returncode == 255:
        return None, "ssh: " + (p.stderr.strip().splitlines() or ["connection failed"])[-1]
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode or not lines:
        return None, f"probe failed (rc {p.returncode}): " + " ".join(
            (p.stderr or p.stdout).split())[-300:]
    try:
        return json.loads(lines[-1]), None
    except ValueError:
        return None, "probe printed no JSON"


# --- judging a host --------------------------------------------------------------------------

def _parse_time(stamp: str | None) -> float | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    head = stamp.replace("Z", "+00:00")
    if "." in head:  # docker prints nanoseconds
        left, right = head.split(".", 1)
        digits = right[:len(right) - len(right.lstrip("0123456789"))]
        head = left + "." + digits[:6].ljust(6, "0") + right[len(digits):]
    try:
        return dt.datetime.fromisoformat(head).timestamp()
    except ValueError:
        return None


def _gb(n: int | None) -> float | None:
    return None if n is None else round(n / 1e9, 1)


def host_status(name: str, config: HostConfig, doc: dict | None, error: str | None,
                elapsed: float, last_apply: LastApply | None = None,
                drift: list[str] | None = None, now: float | None = None) -> HostStatus:
    """The status of one host from its probe document (None: unreachable, ``error`` why).
    A document that does not parse (:class:`ProbeDocument`) makes the host unhealthy, the
    fields that do not parse named; nothing of it is judged."""
    now = time.time() if now is None else now
    h = config.health
    problems: list[str] = []
    warnings: list[str] = []
    status = HostStatus(
        host=name, key_name=config.key_name, reachable=doc is not None, healthy=False,
        elapsed_s=round(elapsed, 2), release=config.release,
        participant=ParticipantStatus(address=account_address(config.account_pubkey)),
        gpus=GpuStatus(expected=config.gpu.count), disk=DiskStatus(path=config.data_mount),
        last_apply=last_apply, drift=drift or [])
    if doc is None:
        status.problems = [f"unreachable: {error}"]
        return status
    if isinstance(doc, dict):
        status.readings = {k: v for k, v in doc.items() if isinstance(v, dict)}
    d, why = parse_probe(doc)
    if d is None:
        status.problems = [why]
        return status

    # chain
    chain, seed, containers = d.chain, d.seed_height, d.containers
    running = containers.services
    node = running.get("node") or ContainerReading(
        running=False if not containers.error else None)
    c = status.chain
    c.height, c.catching_up, c.block_age_s = chain.height, chain.catching_up, chain.block_age_s
    c.seed_height = seed.height
    c.node_running, c.node_started_at = node.running, node.started_at
    if c.height is not None and c.seed_height is not None:
        c.lag = max(c.seed_height - c.height, 0)
    if c.node_running is False:
        problems.append("node container not running")
    if containers.error:
        warnings.append(f"containers: {containers.error}")
    if c.height is None:
        problems.append(f"chain RPC: {chain.error or 'no answer'}")
    elif c.catching_up:
        started = _parse_time(c.node_started_at)
        if started is not None and now - started > h.catching_up_max_s:
            problems.append(f"catching up for too long: node started {int(now - started)} s "
                            f"ago (limit {h.catching_up_max_s} s), "
                            f"{c.lag if c.lag is not None else '?'} blocks behind the seed")
    else:
        if c.block_age_s is not None and c.block_age_s > h.max_block_age_s:
            problems.append(f"chain stalled: latest block {c.height} is {int(c.block_age_s)} s "
                            f"old (limit {h.max_block_age_s} s)")
        if c.lag is not None and c.lag > h.max_lag_blocks:
            problems.append(f"lagging: {c.lag} blocks behind the seed "
                            f"(limit {h.max_lag_blocks})")
    if seed.error:
        warnings.append(f"seed height unknown: {seed.error}")

    # binaries
    v = d.versions
    status.versions = Versions(node_binary=v.node_binary, node=v.node, api=v.api)
    if v.error:
        warnings.append(f"versions: {v.error}")

    # participation
    part, epoch = d.participant, d.epoch
    p = status.participant
    p.registered, p.status = part.registered, part.status
    p.inference_count, p.missed_requests = part.inference_count, part.missed_requests
    p.epoch_id, p.in_epoch, p.weight = epoch.epoch_id, epoch.in_epoch, epoch.weight
    if p.missed_requests is not None and p.inference_count is not None:
        total = p.missed_requests + p.inference_count
        # upstream's own rate: missed / (inference_count + missed) (setup_report.go)
        p.missed_pct = round(100.0 * p.missed_requests / total, 1) if total else 0.0
    if part.error:
        warnings.append(f"participant unknown: {part.error}")
    elif p.registered is False:
        problems.append(f"participant {p.address} not registered on the seed api")
    if epoch.error:
        warnings.append(f"epoch unknown: {epoch.error}")
    elif p.in_epoch is False and p.registered is not False:
        problems.append(f"not in the current epoch {p.epoch_id}")
    if p.missed_pct is not None and p.missed_pct > h.max_missed_pct:
        problems.append(f"missed requests {p.missed_pct} % of the epoch's "
                        f"(limit {h.max_missed_pct} %)")

    # ML nodes
    ml = d.mlnodes
    services = {node: svc.service for svc in config.mlnode_services for node in svc.nodes}
    seen = {n.id: n for n in ml.nodes}
    if ml.error:
        problems.append(f"admin api: {ml.error}")
    for node in config.mlnodes:
        got = seen.get(node.id)
        service = services.get(node.id)
        image = running[service].image if service in running else None
        if got is None:
            status.mlnodes.append(MLNodeStatus(id=node.id, state="MISSING", image=image,
                                               models=list(node.models)))
            if not ml.error:
                problems.append(f"ML node {node.id} unknown to the api")
            continue
        entry = MLNodeStatus(id=node.id, state=got.state or "UNKNOWN", enabled=got.enabled,
                             serving=got.serving, version=got.version, image=image,
                             models=got.models or list(node.models),
                             failure_reason=got.failure_reason)
        status.mlnodes.append(entry)
        if not entry.serving:
            why = "disabled" if entry.enabled is False else entry.state
            problems.append(f"ML node {node.id} not serving: {why}"
                            + (f" ({entry.failure_reason})" if entry.failure_reason else ""))

    # GPUs and disk
    gpus = d.gpus
    status.gpus.seen, status.gpus.names = gpus.count, gpus.names
    if gpus.error:
        problems.append(f"GPUs: {gpus.error}")
    elif status.gpus.seen is not None and status.gpus.seen < config.gpu.count:
        problems.append(f"{status.gpus.seen} GPU(s) seen, the inventory says "
                        f"{config.gpu.count}")
    disk = d.disk
    status.disk.free_gb, status.disk.total_gb = _gb(disk.free_bytes), _gb(disk.total_bytes)
    if disk.error:
        problems.append(f"data disk: {disk.error}")
    elif status.disk.free_gb is not None and status.disk.free_gb < h.min_free_gb:
        problems.append(f"data disk {config.data_mount}: {status.disk.free_gb} GB free "
                        f"(limit {h.min_free_gb:g} GB)")

    status.problems, status.warnings = problems, warnings
    status.healthy = not problems
    return status


# --- local knowledge: the audit log and drift ------------------------------------------------

def last_apply(name: str, config: HostConfig) -> LastApply | None:
    from .state import NodeState

    try:
        entries = [e for e in NodeState(config.key_name).audit() if e.host == name] or \
            NodeState(config.key_name).audit()
    except (OSError, ValueError):
        return None
    if not entries:
        return None
    e = entries[-1]
    return LastApply(at=e.at, who=e.who, changes=len(e.changes), failed=e.failed)


def drift(config: HostConfig, doc: dict | None) -> list[str]:
    """The release's drift items (release/drift.py, the clone's files as the probe hashed
    them), plus each service whose container runs another image than the host's files say.
    A probe document that does not parse gives neither (host_status says why)."""
    from .topology import drift_report, mlnode_services, topology

    d, _ = parse_probe(doc) if doc is not None else (None, None)
    try:
        topo = topology(config)
        sums = d.clone.sha256 if d and d.clone.head == topo.files.commit else None
        items = drift_report(config, sums)
        wanted = {**config.images, **{n: img for n, (img, _) in mlnode_services(config).items()}}
    except Exception as exc:  # a release that cannot be read is said, status goes on
        return [f"unknown: {type(exc).__name__}: {exc}"]
    running = d.containers.services if d else {}
    for service, info in sorted(running.items()):
        want = wanted.get(service)
        got = info.image
        if want and got and got != want and got != want.split("@")[0]:
            items.append(f"running: service {service} runs {got}, the host's files say {want}")
    return items


def clone_files(config: HostConfig) -> list[str]:
    from .topology import checked_files

    try:
        return sorted(checked_files(config))
    except Exception:  # drift() says why
        return []


# --- the fleet -------------------------------------------------------------------------------

def fleet_status(hosts: list[tuple[str, dict]], configs: dict[str, HostConfig],
                 timeout: float = DEFAULT_TIMEOUT) -> FleetStatus:
    t0 = time.monotonic()
    options = kex_options()

    def one(item):
        name, data = item
        config = configs[name]
        start = time.monotonic()
        doc, error = run_probe(name, data, probe_args(config, clone_files(config)), timeout,
                               options)
        try:
            return host_status(name, config, doc, error, time.monotonic() - start,
                               last_apply(name, config), drift(config, doc))
        except Exception as exc:  # one host's surprise is its own unhealthy row, never the fleet's
            row = host_status(name, config, None, None, time.monotonic() - start)
            row.reachable = doc is not None
            row.problems = [f"status could not judge the host: {type(exc).__name__}: {exc}"]
            return row

    items = [(n, d) for n, d in hosts if n in configs]
    with ThreadPoolExecutor(max(1, min(MAX_PARALLEL, len(items)))) as pool:
        results = list(pool.map(one, items))
    return FleetStatus(generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       healthy=all(r.healthy for r in results),
                       elapsed_s=round(time.monotonic() - t0, 2), hosts=results)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def table(fleet: FleetStatus) -> str:
    head = ("host", "health", "height", "lag", "sync", "node/api", "epoch", "weight", "miss%",
            "mlnodes", "gpus", "free GB", "last apply", "drift")
    rows = []
    for s in fleet.hosts:
        c, p = s.chain, s.participant
        sync = "-" if c.catching_up is None else ("catching up" if c.catching_up else "synced")
        epoch = "-" if p.in_epoch is None else (f"in {p.epoch_id}" if p.in_epoch else "OUT")
        if p.registered is False:
            epoch = "unregistered"
        ml = ",".join(f"{m.id}:{m.state}" for m in s.mlnodes) or "-"
        apply = "-" if s.last_apply is None else (
            s.last_apply.at[:16] + (" FAILED" if s.last_apply.failed else ""))
        rows.append((s.host, "ok" if s.healthy else ("UNREACHABLE" if not s.reachable
                                                     else "UNHEALTHY"),
                     _cell(c.height), _cell(c.lag), sync,
                     f"{_cell(s.versions.node_binary or s.versions.node)}/"
                     f"{_cell(s.versions.api)}",
                     epoch, _cell(p.weight), _cell(p.missed_pct), ml,
                     f"{_cell(s.gpus.seen)}/{s.gpus.expected}", _cell(s.disk.free_gb), apply,
                     str(len(s.drift))))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]
    for s in fleet.hosts:
        for m in s.mlnodes:
            lines.append(f"{s.host}: mlnode {m.id}: {m.state}, version {_cell(m.version)}, "
                         f"image {_cell(m.image)}, models {', '.join(m.models) or '-'}")
        for item in s.drift:
            lines.append(f"{s.host}: drift: {item}")
        for w in s.warnings:
            lines.append(f"{s.host}: warning: {w}")
    bad = [s for s in fleet.hosts if not s.healthy]
    for s in bad:
        lines.append(f"{s.host}: UNHEALTHY: {'; '.join(s.problems)}")
    lines.append(f"{len(fleet.hosts) - len(bad)} of {len(fleet.hosts)} host(s) healthy "
                 f"({fleet.elapsed_s:g} s)")
    return "\n".join(lines)
