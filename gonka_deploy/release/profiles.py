"""Release profiles: ``releases/<name>.py``, one plain data module per release.

A profile is loaded by path (never imported as a package) into a typed :class:`ReleaseProfile`.
Its upstream files (``deploy/join/...``) are stored verbatim beside it in ``releases/<name>/``,
with their sha256 in the profile; a profile that could not obtain them stores none, and the
files come from the repo cache (:mod:`.repo`). ``# UNVERIFIED:`` comments are kept as the
profile's list of unverified values.

Extra profile directories (an operator's private profiles, the sandbox's generated ones) come
from ``GONKA_RELEASES_PATH`` (directories separated by ``:``), searched after the shipped one.
A profile is found by its name (never a path) in those directories only, and read as data, never
executed (:mod:`.datafile`: the deploy's environment holds the secrets).
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .datafile import DataFileError, read_data
from .images import IMAGE_RE

SHIPPED = Path(__file__).resolve().parents[2] / "releases"
ENV_PATH = "GONKA_RELEASES_PATH"
DEFAULT_RELEASE = "v0.2.16-post1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHA40 = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ENDPOINT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*:\d{1,5}/(tcp|udp)$")
UNVERIFIED_RE = re.compile(r"#\s*UNVERIFIED:\s*(.*)$")

# Profile keys that are defaults of the host's data (the inventory contract's names). Dicts
# merge per key under the host's and group's values; everything else is replaced whole.
HOST_DEFAULTS = ("gonka_repo_url", "gonka_ref", "chain_id", "seed_api_url", "seed_node_rpc_url",
                 "seed_node_p2p_url", "rpc_servers", "images", "mlnode_base_service",
                 "mlnode_versions", "model_catalog", "gpu_presets")
MERGED_PER_KEY = ("images", "model_catalog", "gpu_presets")


class ReleaseError(Exception):
    """A profile that cannot be used; the message names the release and what is wrong."""


# The two programs a chain upgrade ships, each as a zip (FACTS-chain §2.2): the node's
# `inferenced`, and the api's `decentralized-api` (whose zip carries an `inferenced` too).
UPGRADE_PROGRAMS = ("inferenced", "decentralized-api")
UPGRADE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a directory name
VERSION_NUMBERS = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class UpgradeBinary(BaseModel):
    """One program of an upgrade: its zip (URL and the sha256 of the plan's ``?checksum=``) and,
    where a source gives it, the sha256 of the extracted program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    sha256: str
    binary_sha256: str | None = None

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s?#]+/\S+$", value) or "?" in value:
            raise ValueError(f"{value!r} is not an https URL of a file (no query: the checksum "
                             "goes in sha256)")
        return value

    @field_validator("sha256", "binary_sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not SHA256.match(value):
            raise ValueError(f"{value!r} is not a sha256 (64 lower-case hex digits)")
        return value


class ChainUpgrade(BaseModel):
    """A software upgrade the chain executed (or scheduled): the plan's name and height, the
    version its binaries print, and their zips per program."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    height: int | None = Field(None, gt=0)
    # What `inferenced version` prints for this upgrade's binary (the release tag the zips come
    # from, e.g. v0.2.16-post1 for the v0.2.16 plan); default: the name.
    version: str | None = None
    binaries: dict[str, UpgradeBinary] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _dirname(cls, value: str) -> str:
        if not UPGRADE_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an upgrade name (it names a directory)")
        return value

    @field_validator("binaries")
    @classmethod
    def _programs(cls, value: dict[str, UpgradeBinary]) -> dict[str, UpgradeBinary]:
        unknown = sorted(set(value) - set(UPGRADE_PROGRAMS))
        if unknown:
            raise ValueError(f"unknown program(s) {', '.join(unknown)} (known: "
                             f"{', '.join(UPGRADE_PROGRAMS)})")
        return value

    @property
    def binary_version(self) -> str:
        return self.version or self.name

    def missing(self) -> list[str]:
        """The programs whose zip the profile does not give."""
        return [p for p in UPGRADE_PROGRAMS if p not in self.binaries]


def version_numbers(text: str) -> tuple[int, int, int] | None:
    """``v0.2.16-post1`` -> (0, 2, 16): the release a version or an upgrade name belongs to."""
    match = VERSION_NUMBERS.search(text or "")
    return tuple(int(g) for g in match.groups()) if match else None


def applied_at(upgrades: list[ChainUpgrade] | tuple, height: int) -> list[ChainUpgrade]:
    """The upgrades executed at or below ``height``, oldest first. An upgrade without a known
    height counts as executed (a profile lists what the chain executed up to its release)."""
    return [u for u in upgrades if u.height is None or u.height <= height]


class ReleaseProfile(BaseModel):
    """One release: the compose files of a ref, the images, the chain upgrades, the models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    gonka_repo_url: str
    gonka_ref: str
    upstream_files: dict[str, str]
    compose_files: list[str] = Field(min_length=1)
    chain_id: str
    seed_api_url: str
    seed_node_rpc_url: str
    seed_node_p2p_url: str
    rpc_servers: list[str]
    public_endpoints: dict[str, str]
    # config.env.template variables the profile's author reviewed and leaves at the template's
    # value (the drift report names any other one).
    template_defaults: list[str] = Field(default_factory=list)
    images: dict[str, str]
    mlnode_base_service: str
    mlnode_versions: list[dict[str, Any]] = Field(min_length=1)
    chain_upgrades: list[ChainUpgrade]
    model_catalog: dict[str, dict[str, Any]]
    gpu_presets: dict[str, dict[str, list[str]]]
    # Where the profile was found, and what its comments mark as not verified.
    path: Path
    unverified: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a release name")
        return value

    @field_validator("gonka_ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not SHA40.match(value):
            raise ValueError("must be a full 40-hex commit (a profile pins one commit)")
        return value

    @field_validator("upstream_files")
    @classmethod
    def _sums(cls, value: dict[str, str]) -> dict[str, str]:
        for rel, digest in value.items():
            if rel.startswith("/") or ".." in rel.split("/") or not SHA256.match(digest):
                raise ValueError(f"{rel}: not a relative path with a sha256")
        return value

    @field_validator("public_endpoints")
    @classmethod
    def _endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        for role in ("p2p", "api", "api-ssl"):
            if role not in value:
                raise ValueError(f"needs the {role!r} endpoint")
        for role, spec in value.items():
            if not ENDPOINT_RE.match(spec):
                raise ValueError(f"{role}: {spec!r} is not service:port/tcp|udp")
        return value

    @field_validator("chain_upgrades")
    @classmethod
    def _upgrades(cls, value: list[ChainUpgrade]) -> list[ChainUpgrade]:
        names = [u.name for u in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"upgrade(s) listed twice: {', '.join(twice)}")
        last = 0
        for upgrade in value:  # oldest first: the newest applied one decides what runs
            if upgrade.height is not None:
                if upgrade.height <= last:
                    raise ValueError(f"{upgrade.name}: height {upgrade.height} is not above the "
                                     f"one before it ({last}); list upgrades oldest first")
                last = upgrade.height
        return value

    @field_validator("images")
    @classmethod
    def _images(cls, value: dict[str, str]) -> dict[str, str]:
        for service, ref in value.items():
            if not IMAGE_RE.match(ref):
                raise ValueError(f"{service}: {ref!r} is not an image reference")
        return value

    # --- derived ---
    @property
    def files_dir(self) -> Path:
        """Where the stored upstream files live: ``releases/<name>/``."""
        return self.path.with_suffix("") if self.path.suffix == ".py" else self.path

    @property
    def stores_files(self) -> bool:
        return bool(self.upstream_files)

    def host_defaults(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in HOST_DEFAULTS}

    def stored_files(self) -> dict[str, str]:
        """The stored upstream files, each checked against its sha256 in the profile."""
        files = {}
        for rel, digest in self.upstream_files.items():
            path = self.files_dir / rel
            try:
                data = confined(path, self.path.parent).read_bytes()
            except OSError as exc:
                raise ReleaseError(f"release {self.name}: stored file {path} is missing "
                                   f"({exc.strerror})") from None
            actual = hashlib.sha256(data).hexdigest()
            if actual != digest:
                raise ReleaseError(f"release {self.name}: {path} has sha256 {actual[:12]}…, the "
                                   f"profile says {digest[:12]}…")
            files[rel] = data.decode()
        return files


def search_path(environ: dict[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    extra = [Path(p) for p in environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return [SHIPPED, *extra]


def _candidates(paths: tuple[Path, ...]) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for folder in paths:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith(("_", ".")):
                found.setdefault(path.stem, []).append(path)
    return found


def known_names(environ: dict[str, str] | None = None) -> list[str]:
    return sorted(_candidates(tuple(search_path(environ))))


def load_profile(name: str, environ: dict[str, str] | None = None) -> ReleaseProfile:
    """The profile called ``name``; ReleaseError names the known ones when there is none."""
    # A release name is a file name in one of the named directories, never a path: checked
    # before any lookup, so `../x` or `/etc/x` can only be refused.
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ReleaseError(f"{name!r} is not a release name (letters, digits, '.', '_', '-'; "
                           "a profile is looked up by name in releases/ and "
                           f"{ENV_PATH}, never by path)")
    return _load(name, tuple(search_path(environ)))


@lru_cache(maxsize=64)
def _load(name: str, paths: tuple[Path, ...]) -> ReleaseProfile:
    found = _candidates(paths)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ReleaseError(f"unknown release {name!r} (known: {known})")
    if len(found[name]) > 1:
        raise ReleaseError(f"release {name!r} is defined twice: "
                           + " and ".join(str(p) for p in found[name]))
    return load_file(found[name][0])


def confined(path: Path, folder: Path) -> Path:
    """``path`` resolved, when it stays inside ``folder`` (resolved); ReleaseError otherwise.
    A symlink in a profile directory may point within it, not out of it."""
    real, root = Path(path).resolve(), Path(folder).resolve()
    if not real.is_relative_to(root):
        raise ReleaseError(f"release file {path}: it resolves to {real}, outside {root} "
                           "(a symlink out of a profile directory is refused)")
    return real


def load_file(path: Path) -> ReleaseProfile:
    """Read one profile file by path into a ReleaseProfile. The file is parsed as data, never
    executed (:mod:`.datafile`): nothing in it runs with this process's secrets."""
    path = confined(path, Path(path).absolute().parent)
    try:
        data = read_data(path)
    except (OSError, SyntaxError, DataFileError) as exc:
        raise ReleaseError(f"release file {path}: {type(exc).__name__}: {exc}") from None
    # Upper-case names are the file's own helpers (a shared commit, say), not profile keys.
    values = {k: v for k, v in data.items() if not k.startswith("_") and not k.isupper()}
    values["unverified"] = unverified_lines(path)
    values["path"] = path
    try:
        profile = ReleaseProfile.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise ReleaseError(f"release file {path}: {problems}") from None
    if profile.name != path.stem:
        raise ReleaseError(f"release file {path}: name {profile.name!r} differs from the file name")
    return profile


def unverified_lines(path: Path) -> list[str]:
    """The text of each ``# UNVERIFIED: …`` comment, with its line number."""
    out = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        match = UNVERIFIED_RE.search(line)
        if match:
            out.append(f"line {number}: {match.group(1).strip()}")
    return out


def with_profile(profile: ReleaseProfile, data: dict[str, Any]) -> dict[str, Any]:
    """A host's data over its profile: dict-valued keys merge per key, the rest replaces."""
    merged = profile.host_defaults()
    for key, value in data.items():
        if key in MERGED_PER_KEY and isinstance(value, dict) and key in merged:
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
