"""Chain upgrade binaries under cosmovisor: in place before the node's first start, and ahead of
a coming upgrade's height.

A node state-syncs to a recent height. Past a software upgrade the binary of the release's
image panics ("upgrade handler is missing for <name> upgrade plan", FACTS-chain §3a); upstream's
join guide puts the upgrade's binary under ``cosmovisor/upgrades/<name>/bin`` and points
``current`` at it before the first start (gonka-ai/gonka@6b9de5c3:test-net-cloud/nebius/docs/
testnet-2.16-join-instruction.md, step 9). One binary carries the handlers of every earlier
upgrade (gonka-ai/gonka@ee730031:inference-chain/app/upgrades.go), so the node needs the newest
upgrade at or below its landing height, plus the chain's pending plan, whose binaries cosmovisor
switches to at its height (placed ahead, ``current`` untouched: the operators' pre-download
procedure, gonka-ai/gonka-docs@570482bc:docs/network-updates.md 2026-07-29).
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.cosmovisor import COSMOVISOR_SCRIPT, CosmovisorState, state_args
from ..facts.gonka import HttpGet
from ..release.profiles import UPGRADE_PROGRAMS, ChainUpgrade, UpgradeBinary, applied_at
from .util import describe_size, need, operation, refuse

# x/upgrade's REST query of the pending plan, through the seed's /chain-api/ (node:1317):
# gonka-ai/gonka@6b9de5c3:test-net-cloud/nebius/docs/testnet-2.16-join-instruction.md step 7
# (`curl "${NODE}chain-api/cosmos/upgrade/v1beta1/current_plan"`); {"plan": null} when none.
CURRENT_PLAN = "chain-api/cosmos/upgrade/v1beta1/current_plan"
# The images' DAEMON_HOME (gonka-ai/gonka@ee730031:inference-chain/Dockerfile and
# decentralized-api/Dockerfile), bind-mounted from deploy/join/.inference and .dapi.
CONTAINER_HOMES = {"inference": "/root/.inference", "dapi": "/root/.dapi"}
HOME_OF = {"inferenced": "inference", "decentralized-api": "dapi"}
# The plan's info keys per program and platform (FACTS-chain §2: every 2026 plan; the api reads
# api_binaries, gonka-ai/gonka@ee730031:decentralized-api/upgrade/events.go).
INFO_KEYS = {"binaries": "inferenced", "api_binaries": "decentralized-api"}
PLATFORM = "linux/amd64"
# Cosmovisor copies the node's whole data/ before it switches (UNSAFE_SKIP_BACKUP is not set
# by the image, FACTS-chain §3d): that much free space, plus 10 % for the data the chain still
# writes until the height.
BACKUP_MARGIN = 1.10


def homes(join_dir: str) -> dict[str, str]:
    return {"inference": f"{join_dir}/.inference", "dapi": f"{join_dir}/.dapi"}


def seed_height(answer: dict | None) -> tuple[int | None, str]:
    """The seed's latest block height from its /status answer, or None and why not."""
    if not answer or answer.get("status") != 200:
        code = (answer or {}).get("status", 0)
        return None, "nothing answered" if not code else f"HTTP {code}"
    try:
        doc = answer["json"]
        return int((doc.get("result") or doc)["sync_info"]["latest_block_height"]), ""
    except (KeyError, TypeError, ValueError):
        return None, "no latest_block_height in its answer"


def plan_binaries(info: str) -> tuple[dict[str, UpgradeBinary], list[str]]:
    """The programs of a plan's ``info`` JSON (``URL?checksum=sha256:<hex>`` per platform)."""
    out, problems = {}, []
    try:
        doc = json.loads(info or "{}")
    except ValueError:
        return {}, ["its info is not JSON"]
    for key, program in INFO_KEYS.items():
        value = ((doc.get(key) or {}) if isinstance(doc, dict) else {}).get(PLATFORM)
        if not value:
            continue
        url, _, checksum = str(value).partition("?checksum=")
        algo, _, digest = checksum.partition(":")
        try:
            if algo != "sha256":
                raise ValueError(f"no sha256 checksum in {value!r}")
            out[program] = UpgradeBinary(url=url, sha256=digest.lower())
        except (ValueError, ValidationError) as exc:
            problems.append(f"{key}[{PLATFORM}]: {exc}")
    return out, problems


class PlanDoc(BaseModel):
    """x/upgrade's Plan as the REST gateway gives it (height as a string; other fields allowed)."""

    model_config = ConfigDict(extra="allow")

    name: str
    height: int = Field(gt=0)
    info: str = ""


class CurrentPlanDoc(BaseModel):
    """The ``current_plan`` answer: ``plan`` is required, ``null`` when none is pending."""

    model_config = ConfigDict(extra="allow")

    plan: PlanDoc | None


def read_plan(answer: dict | None) -> tuple[ChainUpgrade | None, str, bool]:
    """The chain's pending plan as an upgrade (None when there is none), what is wrong with
    it, and whether an answer came that did not parse (``{}``, an error body, a renamed
    field): that is never read as "no plan"."""
    if not answer or answer.get("status") != 200:
        code = (answer or {}).get("status", 0)
        return None, f"HTTP {code}" if code else "nothing answered", False
    try:
        doc = CurrentPlanDoc.model_validate(answer.get("json"))
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the answer'}: {e['msg']}"
                          for e in exc.errors(include_url=False))
        return None, f"the answer does not parse ({where})", True
    if doc.plan is None:
        return None, "", False
    binaries, problems = plan_binaries(doc.plan.info)
    try:
        upgrade = ChainUpgrade(name=doc.plan.name, height=doc.plan.height, binaries=binaries)
    except ValidationError as exc:
        return None, f"unreadable plan ({exc.errors(include_url=False)[0]['msg']})", True
    return upgrade, "; ".join(problems), False


def plan_drift(plan: ChainUpgrade, known: ChainUpgrade) -> list[str]:
    """How the chain's plan differs from the profile's entry of the same name: its height, and
    for either program, whether both give it, its zip URL and sha256."""
    out = []
    if known.height is None:
        out.append(f"height {plan.height}, the profile gives none (it counts the upgrade as "
                   "executed)")
    elif known.height != plan.height:
        out.append(f"height {plan.height}, the profile says {known.height}")
    for program in UPGRADE_PROGRAMS:
        theirs, mine = plan.binaries.get(program), known.binaries.get(program)
        if theirs is None and mine is None:
            continue
        if theirs is None:
            out.append(f"the plan names no {PLATFORM} {program} zip, the profile gives "
                       f"{mine.url} (sha256 {mine.sha256})")
        elif mine is None:
            out.append(f"{program} zip {theirs.url} (sha256 {theirs.sha256}), the profile "
                       "gives none")
        else:
            if mine.url != theirs.url:
                out.append(f"{program} zip URL {theirs.url}, the profile says {mine.url}")
            if mine.sha256 != theirs.sha256:
                out.append(f"{program} zip sha256 {theirs.sha256}, the profile says "
                           f"{mine.sha256}")
    return out


def profile_entry(plan: ChainUpgrade) -> str:
    """The ``chain_upgrades`` entry of a plan as the chain proposes it: lines to paste into a
    release profile (JSON of strings and ints is Python too)."""
    entry = {"name": plan.name, "height": plan.height,
             "binaries": {p: {"url": plan.binaries[p].url, "sha256": plan.binaries[p].sha256}
                          for p in UPGRADE_PROGRAMS if p in plan.binaries}}
    return json.dumps(entry, indent=4) + ","


def unknown_plan(plan: ChainUpgrade, note: str, plan_url: str, release: str | None) -> str:
    """Why an unlisted pending plan is not staged, with the profile lines to add."""
    profile = f"release profile {release}" if release else "the release profile"
    lines = [f"the chain's pending upgrade plan {plan.name} (height {plan.height}) is not in "
             f"{profile}'s chain_upgrades: nothing staged. Its zip URLs and sha256 come only from "
             f"the seed's answer ({plan_url}), which authenticates nothing; a binary cosmovisor "
             "runs is installed only from the profile. VERIFY THESE VALUES AGAINST THE RELEASE "
             "ANNOUNCEMENT (the governance proposal and the release page) before adding them to "
             "chain_upgrades, newest last (add \"version\" when the binaries print another one, "
             "e.g. a -post1 tag), then run the deploy again:",
             profile_entry(plan)]
    missing = [p for p in UPGRADE_PROGRAMS if p not in plan.binaries]
    if missing or note:
        lines.append(f"(the plan gives no usable {PLATFORM} zip for {', '.join(missing) or '-'}"
                     f"{': ' + note if note else ''}; take it from the announcement)")
    return "\n".join(lines)


def install_state(entry: dict | None, program: str, binary: UpgradeBinary) -> str:
    """``ok``, ``missing`` (install), ``unverified`` (install: the zip decides) or
    ``conflict: …`` (another binary is there; never overwritten)."""
    if not entry or not entry.get("dir"):
        return "missing"
    found = entry["files"].get(program)
    if not found or not found["mode"] & 0o111:
        return "missing"
    if binary.binary_sha256:
        if found["sha256"] == binary.binary_sha256:
            return "ok"
        return (f"conflict: {program} has sha256 {found['sha256']}, the profile says "
                f"{binary.binary_sha256}")
    marker = entry.get("marker") or {}
    files = marker.get("files") or {}
    if (marker.get("sha256") == binary.sha256 and program in files
            and all((entry["files"].get(n) or {}).get("sha256") == s for n, s in files.items())):
        return "ok"
    return "unverified"


@operation()
def binaries(join_dir: str, upgrades: list[dict], seed_rpc_url: str, seed_api_url: str,
             cache_dir: str, attempts: int = 4, release: str | None = None):
    """
    Put the chain upgrade binaries a node needs under cosmovisor, and point ``current`` at the
    newest upgrade at or below the chain's height before the node's first start.

    + join_dir: ``deploy/join`` of the gonka clone (``.inference`` and ``.dapi`` live there)
    + upgrades: the release profile's ``chain_upgrades`` (dicts: name, height, version,
      binaries per program: url, sha256, binary_sha256)
    + seed_rpc_url: the seed's CometBFT RPC (``…/chain-rpc/``): its height is where state sync
      lands
    + seed_api_url: the seed's api: ``/chain-api/`` gives the pending plan
    + cache_dir: where zips are downloaded on the host (a partial download resumes)
    + attempts: tries of each network read and download on transient faults
    + release: the release profile's name (named in a refusal)

    The newest upgrade at or below the seed's height needs both programs in the profile (the
    host fails naming the upgrade otherwise). A pending plan is staged only when the profile
    lists it, from the profile's URLs and checksums: the seed's answer authenticates nothing.
    An unlisted pending plan fails the host with the profile lines to add (as the chain proposes
    them, to be checked against the release announcement); a listed one whose height, zip URL
    or sha256 differs from the plan's, or an answer that does not parse, fails it too (drift).
    Installed binaries are compared by sha256 (the profile's, or the one recorded
    from the verified zip); ``current`` is moved only while the service has never started on
    that home (cosmovisor owns it afterwards). Free space for cosmovisor's backup of ``data/``
    is checked when a plan is pending. ``data/`` contents, ``.tmkms`` and the keyring are never
    touched.

    **Example:**

    .. code:: python

        cosmovisor.binaries(join_dir="/mnt/ssd/gonka/deploy/join",
                            upgrades=[u.model_dump() for u in profile.chain_upgrades],
                            seed_rpc_url="http://node2.gonka.ai:8000/chain-rpc/",
                            seed_api_url="http://node2.gonka.ai:8000",
                            cache_dir="/mnt/ssd/.gonka-deploy/downloads",
                            release="v0.2.16-post1")
    """
    profile = [ChainUpgrade.model_validate(u) for u in upgrades]
    status_url = seed_rpc_url.rstrip("/") + "/status"
    height, why = seed_height(host.get_fact(HttpGet, url=status_url, attempts=attempts))
    if height is None:
        seen = host.get_fact(CosmovisorState, args=state_args(homes(join_dir), CONTAINER_HOMES,
                                                               []))
        if seen and seen["inference"]["started"]:
            # A running node follows the chain with cosmovisor; only a first start needs this.
            logger.warning(f"{host.print_prefix}seed RPC {status_url}: {why}; no chain upgrade "
                           "binaries checked this run")
            host.noop("the node runs already; its upgrades could not be checked")
            return
        yield from refuse(f"seed RPC {status_url}: {why}; cannot tell which chain upgrades the "
                          "node lands past, so it is not started")
        return
    plan_url = f"{seed_api_url.rstrip('/')}/{CURRENT_PLAN}"
    plan, plan_note, unparsed = read_plan(host.get_fact(HttpGet, url=plan_url,
                                                        attempts=attempts))
    if unparsed:
        yield from refuse(f"the chain's pending upgrade plan from {plan_url}: {plan_note}; "
                          "nothing staged (an answer that does not parse is not \"no plan\")")
        return
    if plan is None and plan_note:
        logger.warning(f"{host.print_prefix}the chain's pending upgrade plan could not be read "
                       f"({plan_url}: {plan_note}); no coming upgrade staged")

    applied = applied_at(profile, height)
    land = applied[-1] if applied else None
    if land and land.missing():
        yield from refuse(f"chain upgrade {land.name} (height {land.height or 'unknown'}) is at or "
                          f"below the chain's height {height}, but the release profile gives no "
                          f"{' and no '.join(land.missing())} binary for it: add its zip URL and "
                          "sha256 to the profile's chain_upgrades")
        return
    pending = None
    if plan is not None and plan.height > height:
        # Only a profile-listed upgrade is staged, with the profile's URLs and checksums: the
        # plan comes from one unauthenticated answer (a seed, over plain HTTP by default before
        # v0.2.16-post1), and cosmovisor execs what lands in upgrades/<name>/bin (in the api
        # container too, which holds the keyring password). The plan only says that the
        # profile's entry is due, and must agree with it.
        known = next((u for u in profile if u.name == plan.name), None)
        if known is None:
            yield from refuse(unknown_plan(plan, plan_note, plan_url, release))
            return
        drift = plan_drift(plan, known)
        if plan_note:
            drift.append(f"the plan's info: {plan_note}")
        if drift:
            yield from refuse(f"drift: the chain's pending plan {plan.name} differs from the "
                              f"release profile: {'; '.join(drift)}; nothing staged (check the "
                              "release announcement: the profile or the seed is wrong)")
            return
        if "inferenced" not in known.binaries:  # neither gives one (else that is drift)
            yield from refuse(f"the chain's pending plan {plan.name} (height {plan.height}) "
                              f"names no {PLATFORM} inferenced binary, nor does the release "
                              "profile: place it by hand")
            return
        pending = known
    wanted = [u for u in (land, pending) if u is not None]
    if not wanted:
        host.noop(f"no chain upgrade at or below height {height} and none pending")
        return

    where = homes(join_dir)
    found = need(host.get_fact(CosmovisorState, args=state_args(
        where, CONTAINER_HOMES, [u.name for u in wanted], measure_data=pending is not None)),
        "the cosmovisor directories")
    items, conflicts = [], []
    for upgrade in wanted:
        for program, binary in sorted(upgrade.binaries.items()):
            key = HOME_OF[program]
            entry = found[key]["upgrades"].get(upgrade.name)
            verdict = install_state(entry, program, binary)
            if verdict.startswith("conflict"):
                conflicts.append(f"{where[key]}/cosmovisor/upgrades/{upgrade.name}: {verdict[10:]}")
            elif verdict != "ok":
                items.append({"upgrade": upgrade.name, "home": where[key], "program": program,
                              "url": binary.url, "sha256": binary.sha256,
                              "binary_sha256": binary.binary_sha256})
    if conflicts:
        yield from refuse("another binary is installed where the release's goes (not "
                          "overwritten; move it away if it is not what should run): "
                          + "; ".join(conflicts))
        return

    links = {}
    if land is not None:
        for key, home in where.items():
            if key == "dapi" and "decentralized-api" not in land.binaries:
                continue
            current = found[key]["current"]
            if current == f"upgrades/{land.name}":
                continue
            if found[key]["started"]:
                logger.info(f"{host.print_prefix}{home}/cosmovisor/current is {current}: the "
                            "service has started there, cosmovisor manages it; left alone")
            else:
                links[home] = land.name
    mkdirs = [] if found["inference"]["data_dir"] else [f"{where['inference']}/data"]

    if pending is not None:
        data = found.get("data_bytes")
        free = found.get("free_bytes") or 0
        blocks = pending.height - height
        logger.info(f"{host.print_prefix}coming chain upgrade {pending.name} at height "
                    f"{pending.height} ({blocks} blocks from now): its binaries are placed ahead")
        if data is not None and free < data * BACKUP_MARGIN:
            logger.warning(f"{host.print_prefix}not enough free disk for cosmovisor's backup "
                           f"before {pending.name}: {describe_size(free)} free, it copies "
                           f"{describe_size(data)} of .inference/data (need "
                           f"{describe_size(int(data * BACKUP_MARGIN))}); the node halts at "
                           f"height {pending.height} if the copy fails")

    if not (items or links or mkdirs):
        host.noop(f"chain upgrade binaries in place ({', '.join(u.name for u in wanted)}); "
                  f"node current: {found['inference']['current']}")
        return
    verb = "" if state.is_executing else "would "
    for item in items:
        logger.info(f"{host.print_prefix}{verb}download {item['url']} (sha256 "
                    f"{item['sha256'][:12]}…) into {item['home']}/cosmovisor/upgrades/"
                    f"{item['upgrade']}/bin ({item['program']})")
    for home, name in links.items():
        logger.info(f"{host.print_prefix}{verb}point {home}/cosmovisor/current at "
                    f"upgrades/{name} (chain height {height}: past {name} at "
                    f"{(land.height if land else None) or 'an earlier height'})")
    for directory in mkdirs:
        logger.info(f"{host.print_prefix}{verb}create {directory} (cosmovisor needs it)")
    args = json.dumps({"cache": cache_dir, "attempts": attempts, "items": items,
                       "links": links, "mkdirs": mkdirs}, sort_keys=True)
    yield StringCommand("python3", "-c", QuoteString(COSMOVISOR_SCRIPT), "install",
                        QuoteString(args))
