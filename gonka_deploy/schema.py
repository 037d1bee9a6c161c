"""The operator contract (``INVENTORY.md``) as pydantic models.

A host's merged pyinfra data (host data over group data over ``group_data/all.py``) is validated
into one :class:`HostConfig`. Every field carries its documentation in ``description``: the README's
inventory reference is generated from these models (``gonka-deploy inventory-docs``), so the schema
is the single source of truth for key names, defaults and meaning.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .address import account_address, check_account_address
from .release.images import IMAGE_RE, MLNodeTag, choose_image, comparable, slug
from .release.profiles import DEFAULT_RELEASE
from .units import normalize, parse_ngonka

KEY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
PEER_RE = re.compile(r"^[0-9a-f]{40}@[^@:\s]+:\d{1,5}$")
SSH_KEY_RE = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f]*)?$"
)
GIT_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}$")
RETENTION_RE = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")
PUBLIC_PORT_RE = re.compile(r"^\d{1,5}(/(tcp|udp))?$")
PLACEHOLDERS = ("<fillin>", "changeme", "change-me", "placeholder", "password", "secret")

# pyinfra's own host data: connector settings and global-argument defaults. Anything else that is
# not a schema field is a typo or an unknown key and is reported.
PYINFRA_KEY_PREFIXES = ("_", "ssh_", "docker_", "chroot_", "local_", "winrm_", "vagrant_")


def _check_hostname_or_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not HOSTNAME_RE.match(value) or value.replace(".", "").isdigit():
        raise ValueError("not an IP address or DNS name")
    return value


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    _check_hostname_or_ip(parts.hostname)
    _check_url_port(parts)
    return value


def _check_tcp_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ValueError("not a tcp://host:port address")
    _check_hostname_or_ip(parts.hostname)
    return value


def _check_url_port(parts) -> None:
    try:
        port = parts.port
    except ValueError as exc:  # urlsplit raises on out-of-range ports only when asked
        raise ValueError("port out of range") from exc
    if port == 0:
        raise ValueError("port out of range")


def _check_git_url(value: str) -> str:
    if re.match(r"^[\w.-]+@[\w.-]+:[\w./~-]+$", value):  # scp-like git@host:org/repo.git
        return value
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.path.startswith("/"):
        return value
    if parts.scheme not in ("https", "http", "git", "ssh") or not parts.hostname:
        raise ValueError("not a git URL (https://, ssh://, git://, file:// or git@host:path)")
    _check_url_port(parts)
    return value


def _check_image(value: str) -> str:
    if not IMAGE_RE.match(value):
        raise ValueError("not an image reference (name[:tag][@sha256:digest])")
    return value


# Paths go raw into /etc/fstab and into compose files and config.env (HF_HOME feeds a
# `${HF_HOME}:/root/.cache` volume): a space, `#`, `:`, a newline or a quote would split or
# reopen a field there. Only this set, normalised, absolute, no `.`/`..` segment, and not `/`.
SAFE_PATH_RE = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")


def _check_abs_path(value: str) -> str:
    if not value.startswith("/") or value.rstrip("/") == "":
        raise ValueError("not an absolute path (and not /)")
    value = value.rstrip("/")
    if not SAFE_PATH_RE.match(value):
        raise ValueError("not a plain absolute path: only letters, digits and `._-` between "
                         "single slashes (no space, `#`, `:`, quote or control character)")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError("not a normalised path (a `.` or `..` segment)")
    return value


# Inventory (pyinfra) host names become local paths (`gonka-deploy render --out DIR/<name>`)
# and log prefixes: a plain name, an IP address or `@local`; never `/`, `..`, or a leading
# `-` or `.`.
HOST_NAME_RE = re.compile(r"^(@local|[A-Za-z0-9][A-Za-z0-9_.:@-]{0,252})$")


def check_host_name(name: object) -> str | None:
    """Why ``name`` cannot be an inventory host name of this toolkit, or None."""
    if not isinstance(name, str) or not HOST_NAME_RE.match(name):
        return ("not a safe host name: letters, digits and `._:@-`, starting with a letter or "
                "digit (no `/`, space or control character), or `@local`")
    if ".." in name:
        return "not a safe host name: `..` is not allowed"
    return None


HostName = Annotated[str, AfterValidator(_check_hostname_or_ip)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
TcpUrl = Annotated[str, AfterValidator(_check_tcp_url)]
GitUrl = Annotated[str, AfterValidator(_check_git_url)]
Image = Annotated[str, AfterValidator(_check_image)]
AbsPath = Annotated[str, AfterValidator(_check_abs_path)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Keys a release profile fills in (group and host data may still set them): the docs say so.
FROM_RELEASE = {"from_release": True}


def _check_mlnode_image(value: str) -> str:
    _check_image(value)
    if not comparable(value):
        raise ValueError(f"{value!r}: the tag is not an MLNode tag like 3.0.16 or 3.0.14-post2")
    return value


def _service_keys(value):
    # Compose service names use `-`; `proxy_ssl` (the old key) names `proxy-ssl`.
    return {str(k).replace("_", "-"): v for k, v in value.items()} if isinstance(value, dict) \
        else value


MLNodeImage = Annotated[str, AfterValidator(_check_mlnode_image)]
# An amount with its unit ("3360ngonka", "5 GNK"), kept as "<n>ngonka" (`ngonka()` reads it).
Amount = Annotated[str, BeforeValidator(normalize)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gpu(Strict):
    """The host's GPUs; checked against ``nvidia-smi`` at verify time."""

    model: str = Field("H100", min_length=1, description="GPU model name as nvidia-smi shows it")
    count: int = Field(8, ge=1, le=64, description="number of GPUs")
    vram_gb: int = Field(80, ge=1, description="memory per GPU in GB")

    @property
    def total_vram_gb(self) -> int:
        return self.count * self.vram_gb


class MLNode(Strict):
    """One ML node (MLNode container) known to this host's api (`node-config.json`)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="unique node id")
    models: list[str] = Field(min_length=1, description="governance model ids from model_catalog")
    max_concurrent: int = Field(500, gt=0, description="max parallel inference requests")
    args: list[str] = Field(default_factory=list, description="extra vLLM args; win over preset "
                            "and governance args on the same flag")
    preset: str | None = Field(None, description="name of a gpu_presets entry (e.g. `H100x4`); "
                               "default: the preset matching `gpu`, if any")
    host: HostName = Field("inference", description="host of the ML proxy as the api sees it")
    inference_port: Port = Field(5000, description="port of the ML proxy's inference server "
                                 "(set by the toolkit for a node on an extra MLNode service)")
    poc_port: Port = Field(8080, description="port of the ML proxy's management server (set by "
                           "the toolkit for a node on an extra MLNode service)")
    image: Image | None = Field(None, description="MLNode image of this node; default: the "
                                "newest `min_mlnode_image` of its models, at least the release's")

    @property
    def local(self) -> bool:
        """Served by this host's MLNode containers (through the `inference` proxy)."""
        return self.host == "inference"


class MLNodeVersion(Strict):
    version: str = Field(description="URL segment nginx routes, e.g. `v3.0.8`")
    image: Image = Field(description="MLNode image for this version")
    current: bool = Field(False, description="the version the api calls now (exactly one)")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not VERSION_RE.match(value):
            raise ValueError("not a version segment like v3.0.8")
        return value

    @property
    def slug(self) -> str:
        """``v3.0.8`` -> ``308``: the suffix of the compose service and nginx upstream names."""
        return self.version[1:].replace(".", "")

    @property
    def service(self) -> str:
        return f"mlnode-{self.slug}"


class CatalogModel(Strict):
    hf_repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="Hugging Face repo id")
    hf_commit: str = Field(description="pinned commit sha (40 hex)")
    args: list[str] = Field(default_factory=list, description="governance vLLM args")
    min_vram_gb: int = Field(gt=0, description="total VRAM one ML node needs for this model")
    throughput_per_nonce: float | None = Field(None, description="informational")
    poc: bool | None = Field(None, description="a PoC model (true) or inference only (false); "
                             "`null`: not known")
    min_mlnode_image: MLNodeImage | None = Field(None, description="oldest MLNode image that "
                                                 "serves the model (ML nodes run at least it)")

    @field_validator("hf_commit")
    @classmethod
    def _commit(cls, value: str) -> str:
        if not COMMIT_RE.match(value):
            raise ValueError("not a 40-hex commit sha")
        return value


class Pruning(Strict):
    mode: Literal["default", "nothing", "everything", "custom"] = "custom"
    keep_recent: int = Field(1000, ge=0)
    interval: int = Field(100, ge=0)

    @model_validator(mode="after")
    def _custom(self) -> Pruning:
        if self.mode == "custom" and self.interval < 10:
            raise ValueError("custom pruning needs interval >= 10")
        return self


class Monitoring(Strict):
    enabled: bool = Field(True, description="run Prometheus and node-exporter on the host")
    retention: str = Field("15d", pattern=RETENTION_RE.pattern, description="TSDB retention")
    prometheus_image: Image = "prom/prometheus:v2.53.2"
    node_exporter_image: Image = "prom/node-exporter:v1.8.2"
    listen: str = Field("127.0.0.1:9090", pattern=r"^[\w.:\[\]-]+:\d{1,5}$",
                        description="Prometheus listen address (host network)")
    node_exporter_port: Port = Field(9101, description="node-exporter port on 127.0.0.1 (9100 "
                                     "is the api's)")
    api_metrics: str | None = Field(None, description="`host:port/path` of api metrics to scrape")
    gpu_exporter: str | None = Field(None, description="`host:port` of a GPU exporter "
                                     "(dcgm-exporter), scraped when set")


DURATION_RE = re.compile(r"^[0-9]+(ms|s|m|h|d)$")
Duration = Annotated[str, Field(pattern=DURATION_RE.pattern)]


class Health(Strict):
    """When a host is unhealthy: ``gonka-deploy status`` exits non-zero on it, and the
    alert rules (templates/monitoring/rules.yml.j2) fire on the same thresholds."""

    # gonka-host-bot docs/alert_registry.md: chain_halt at block age > 60 s; hyphacoop
    # chain-health.yml ChainNotProducingBlocks: no height change for 1m
    max_block_age_s: int = Field(120, gt=0, description="chain stalled: the node's latest "
                                 "block is older than this (and it is not catching up)")
    max_lag_blocks: int = Field(20, ge=0, description="lagging: more blocks behind the seed "
                                "than this (and not catching up)")
    catching_up_max_s: int = Field(6 * 3600, gt=0, description="catching up for too long: the "
                                   "node container has run this long and still catches up")
    min_free_gb: float = Field(50, ge=0, description="data disk below threshold: free GB on "
                               "the data mount")
    # decentralized-api internal/server/admin/setup_report.go: FAIL at >= 10 %
    max_missed_pct: float = Field(10.0, ge=0, le=100, description="missed requests in the "
                                  "current epoch, % of (inferences + missed)")
    alert_for: Duration = Field("5m", description="how long a condition lasts before its alert "
                                "fires (the chain-stalled rule uses `max_block_age_s`)")
    target_down_for: Duration = Field("2m", description="a scrape target down this long alerts")


class Telegram(Strict):
    chat_id: int = Field(description="chat to post to (an int64; a group's id is negative)")
    # the token is a secret: GONKA_TELEGRAM_BOT_TOKEN[_<KEY_NAME>] or TELEGRAM_BOT_TOKEN= in
    # secrets/<key_name>.env; gonka_deploy/validate.py fills it, never group data
    bot_token: SecretStr | None = Field(None, description="never set here: from "
                                        "`GONKA_TELEGRAM_BOT_TOKEN` or secrets/<key_name>.env")
    api_url: HttpUrl | None = Field(None, description="Telegram API (default "
                                    "https://api.telegram.org)")


# The gonka exporter's image (issue 20): only by digest, so what runs is what was reviewed.
# python:3.12-slim-bookworm's multi-platform index as Docker's official-images bot recorded it
# (docker-library/repo-info@33a22f41ac7bf613bc03380b0317536a9a7fb5e8,
# repos/python/remote/3.12-slim-bookworm.md: `docker pull python@sha256:0f5b26b9…`).
EXPORTER_IMAGE = ("python:3.12-slim-bookworm"
                  "@sha256:0f5b26b9518d002b6173fd61daad821fa340635ebfec5bba471013f9ca114579")


def _check_pinned_image(value: str) -> str:
    _check_image(value)
    if not re.search(r"@sha256:[0-9a-f]{64}$", value):
        raise ValueError(f"{value!r}: pin the image by digest (name:tag@sha256:<64 hex>); a tag "
                         "can be moved to another image")
    return value


PinnedImage = Annotated[str, AfterValidator(_check_pinned_image)]


class Alerting(Strict):
    """Alertmanager beside Prometheus, and the small exporter for what no exporter scrapes."""

    enabled: bool = Field(True, description="rules, Alertmanager and the gonka exporter (with "
                          "`monitoring.enabled`)")
    alertmanager_image: Image = "prom/alertmanager:v0.27.0"
    # the exporter runs gonka_deploy/hostside/status_probe.py --serve (stdlib only)
    exporter_image: PinnedImage = Field(EXPORTER_IMAGE, description="the gonka exporter's "
                                        "image, pinned by digest (`name:tag@sha256:…`)")
    alertmanager_listen: str = Field("127.0.0.1:9093", pattern=r"^[\w.:\[\]-]+:\d{1,5}$",
                                     description="Alertmanager listen address (host network)")
    exporter_port: Port = Field(9102, description="gonka exporter port on 127.0.0.1")
    telegram: Telegram | None = Field(None, description="Telegram receiver (chat id here, the "
                                      "bot token from env or secrets/)")
    webhook_urls: list[HttpUrl] = Field(default_factory=list, description="webhook receivers "
                                        "(Alertmanager's JSON POST)")
    group_wait: Duration = Field("30s", description="Alertmanager route group_wait")
    group_interval: Duration = Field("5m", description="Alertmanager route group_interval")
    repeat_interval: Duration = Field("4h", description="Alertmanager route repeat_interval")
    evaluation_interval: Duration = Field("15s", description="Prometheus scrape and rule "
                                          "evaluation interval")


class PocDelegate(Strict):
    """Delegate a PoC model to another participant (a cold-key transaction)."""

    delegate: str = Field(description="the delegatee's participant (cold account) address")

    @field_validator("delegate")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_account_address(value)


POC_CHOICES = ("run", "refuse")


def _poc_choice(value):
    if isinstance(value, str):
        if value not in POC_CHOICES:
            raise ValueError(f"{value!r} is not 'run', 'refuse' or {{'delegate': 'gonka1…'}}")
        return value
    if isinstance(value, dict) and set(value) == {"delegate"}:
        return PocDelegate(delegate=check_account_address(str(value["delegate"])))
    if isinstance(value, PocDelegate):
        return value
    raise ValueError(f"{value!r} is not 'run', 'refuse' or {{'delegate': 'gonka1…'}}")


PocChoice = Annotated[str | PocDelegate, BeforeValidator(_poc_choice)]


class MLNodeService(Strict):
    """One MLNode compose service of the host and the ML proxy ports that reach it."""

    service: str
    image: str
    poc_port: int
    inference_port: int
    nodes: list[str]


def _check_password(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    lowered = value.lower()
    if lowered.startswith("<") or any(lowered.startswith(p) for p in PLACEHOLDERS):
        raise ValueError("is a placeholder, set a real password")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("contains a newline or control character")
    if len(value) < 16:
        raise ValueError(f"too short ({len(value)} characters, need at least 16)")
    return secret


class HostConfig(Strict):
    """Everything one host's deploy needs, merged and validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=False)

    # --- identity and addresses (host data) ---
    key_name: str = Field(description="warm key name and node name; unique in the inventory")
    public_host: HostName = Field(description="IP or DNS name other hosts use")
    api_port: Port = Field(8000, description="public port of the proxy (HTTP)")
    api_ssl_port: Port = Field(8443, description="public port of the proxy (HTTPS)")
    p2p_port: Port = Field(5000, description="public chain P2P port")
    account_pubkey: str = Field(description="base64 of the cold account's 33-byte compressed "
                                "secp256k1 public key")
    keyring_password: Annotated[SecretStr, AfterValidator(_check_password)] = Field(
        description="file-keyring password; from env or secrets/<key_name>.env, never a file here")
    data_disk: str | None = Field(None, description="blank block device to format and mount; "
                                  "`None` skips the disk phase")
    data_mount: AbsPath = Field("/mnt/ssd", description="where the data disk is mounted")
    data_fstype: Literal["ext4", "xfs"] = Field("ext4", description="filesystem for a blank disk")
    gonka_dir: AbsPath | None = Field(None, description="clone of the gonka repo "
                                      "(default `{data_mount}/gonka`)")
    hf_home: AbsPath | None = Field(None, description="Hugging Face cache "
                                    "(default `{data_mount}/hf`)")
    gpu: Gpu = Field(default_factory=Gpu, description="the host's GPUs")
    location: str = Field("", description="node identity metadata (reports, metric labels)")
    tags: list[str] = Field(default_factory=list, description="node identity metadata")
    poc_participation: dict[str, PocChoice] = Field(
        default_factory=dict, description="per PoC model of the release: `run` (this host "
        "serves it; its warm key declares the intent), `refuse` (10 % weight per epoch) or "
        "`{\"delegate\": \"gonka1…\"}` (cold key); default `run` for the PoC models the "
        "host's ML nodes serve. A PoC model with no choice costs 15 % per epoch: it is an error")
    collateral: Amount | None = Field(None, description="collateral the cold account keeps "
                                      "deposited for this host: `\"3360ngonka\"` or `\"5 GNK\"` "
                                      "(1 GNK = 10^9 ngonka); `null`: no target, the report "
                                      "still warns when none is deposited")

    # --- release and network (group data; the release profile gives the defaults) ---
    release: str = Field(DEFAULT_RELEASE, description="release profile (`releases/<name>.py`, "
                         "`gonka-deploy releases`); it gives every key marked *release*")
    gonka_repo_url: GitUrl = Field(description="where to clone the gonka repo from",
                                   json_schema_extra=FROM_RELEASE)
    gonka_ref: str = Field(min_length=1, description="pinned branch, tag or commit",
                           json_schema_extra=FROM_RELEASE)
    chain_id: str = Field("gonka-mainnet", pattern=r"^[a-z0-9-]+$", description="chain id",
                          json_schema_extra=FROM_RELEASE)
    seed_api_url: HttpUrl = Field(description="seed api (`SEED_API_URL`)",
                                  json_schema_extra=FROM_RELEASE)
    seed_node_rpc_url: HttpUrl = Field(description="seed chain RPC (`SEED_NODE_RPC_URL`)",
                                       json_schema_extra=FROM_RELEASE)
    seed_node_p2p_url: TcpUrl = Field(description="seed P2P address (`SEED_NODE_P2P_URL`)",
                                      json_schema_extra=FROM_RELEASE)
    rpc_servers: list[HttpUrl] = Field(min_length=2, max_length=2,
                                       description="state-sync RPC servers (`RPC_SERVER_URL_1/2`)",
                                       json_schema_extra=FROM_RELEASE)
    images: Annotated[dict[str, Image], BeforeValidator(_service_keys)] = Field(
        description="image per compose service (any service the release's compose defines); "
        "merged per service over the release's", json_schema_extra=FROM_RELEASE)
    public_ports: list[int | str] = Field(
        default_factory=list, description="published ports allowed on every interface besides "
        "p2p, api and api-ssl: `30303` (tcp and udp) or `\"30303/udp\"`; every other published "
        "port is bound to 127.0.0.1")
    mlnode_versions: list[MLNodeVersion] = Field(min_length=1, description="URL segments nginx "
                                                 "routes to MLNode containers; one `current`, "
                                                 "whose image is the default MLNode image",
                                                 json_schema_extra=FROM_RELEASE)
    mlnode_base_service: str = Field("mlnode-308", description="MLNode service name in the "
                                     "release's docker-compose.mlnode.yml",
                                     json_schema_extra=FROM_RELEASE)
    model_catalog: dict[str, CatalogModel] = Field(description="governance models by id; "
                                                   "merged per model over the release's",
                                                   json_schema_extra=FROM_RELEASE)
    model_catalog_extra: dict[str, CatalogModel] = Field(default_factory=dict, description="extra "
                                                         "models merged into model_catalog")
    gpu_presets: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description="per model, per `<gpu model>x<count>` vLLM args; "
        "merged per model over the release's", json_schema_extra=FROM_RELEASE)
    persistent_peers: list[str] = Field(default_factory=list, description="`id@host:port` peers "
                                        "written into config.toml")
    seeds: list[str] = Field(default_factory=list,
                             description="`id@host:port` seeds for config.toml")
    pruning: Pruning = Field(default_factory=Pruning, description="app.toml pruning")
    admin_ssh_keys: list[str] = Field(default_factory=list, description="public keys added to the "
                                      "login user's authorized_keys")
    admin_ssh_keys_exclusive: bool = Field(False, description="also remove keys not listed")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus and node "
                                   "exporter")
    health: Health = Field(default_factory=Health, description="thresholds of an unhealthy "
                           "host (`gonka-deploy status`, alert rules)")
    alerting: Alerting = Field(default_factory=Alerting, description="alert rules, "
                               "Alertmanager and its receivers")
    hf_endpoint: HttpUrl | None = Field(None, description="Hugging Face endpoint (`HF_ENDPOINT`)")
    hf_client_version: str = Field("2.4.0", description="huggingface_hub version installed on "
                                   "hosts (own venv)")
    min_free_gb: int = Field(200, ge=0, description="free space the data mount needs, in GB")
    wait_timeout_s: int = Field(600, gt=0, description="seconds to wait for a service to answer")
    model_wait_timeout_s: int = Field(6 * 3600, gt=0, description="seconds to wait for the "
                                      "model downloads")
    outbound_proxy: HttpUrl | None = Field(None, description="HTTP(S) proxy hosts use for PyPI, "
                                           "Hugging Face and git")
    no_proxy: list[str] = Field(default_factory=list, description="hosts that bypass the proxy")
    save_warm_mnemonic: bool = Field(False, description="keep the warm key mnemonic locally "
                                     "(nodes/<key_name>/, 0600)")
    grant_from_local_keyring: bool = Field(False, description="run grant-ml-ops-permissions "
                                           "locally with the cold key")
    cold_txs_from_local_keyring: bool = Field(
        False, description="send the cold-key transactions the report prints (PoC delegation "
        "and refusal, collateral deposit) from this machine's keyring, each once, when the "
        "chain lacks them; otherwise they are only printed")
    cold_key_name: str = Field("gonka-account-key", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
                               description="the cold key's name in the operator's keyring "
                               "(printed commands and local runs)")
    cold_keyring_backend: Literal["file", "os", "test"] = Field(
        "file", description="keyring backend of the cold key on the operator's machine")
    chain_api_url: HttpUrl | None = Field(None, description="chain REST (gRPC gateway) read "
                                          "for participation, collateral and fees; default "
                                          "`{seed_api_url}/chain-api`")
    fee_grant_min_days: int = Field(30, ge=1, description="warn when the cold->warm fee grant "
                                    "expires in fewer days (it pays every warm-key fee since "
                                    "v0.2.16)")
    cold_balance_min: Amount = Field("20000000000ngonka", description="warn when the cold "
                                     "account's spendable balance is below this (`\"20 GNK\"`); "
                                     "it pays the fees of both keys")
    stage: Literal["prepare", "cleanup", "rollback", "status", "swap"] | None = Field(
        None, description="deploys/mlnode_upgrade.py only: `--data stage=…`")
    # gonka-ai/gonka@6b9de5c3:test-net-cloud/nebius/docs/testnet-2.16-join-instruction.md:
    # "proceed when phase is Inference and blocks_to_poc comfortably > 100"
    mlnode_swap_min_blocks_to_poc: int = Field(100, ge=0, description="an MLNode image swap is "
                                               "refused when fewer blocks are left to the next "
                                               "PoC")
    # inc4/gonka-nop@03f9a72c:internal/cmd/update.go waits 15 min for the model after a swap
    mlnode_swap_timeout_s: int = Field(1800, gt=0, description="seconds a swapped MLNode has "
                                       "to load its model before the swap is rolled back")
    restore_backup: str = Field("latest", pattern=r"^(latest|never|[0-9]{8}T[0-9]{6}Z\.gkb)$",
                                description="on a blank host, restore the node's keys from "
                                "`latest` of `backups/<key_name>/`, from one archive "
                                "(`20261130T050505Z.gkb`), or `never` (new keys)")
    allow_consensus_key_reuse: bool = Field(
        False, description="no longer accepted as true: a bare flag cannot say which host is "
        "gone; name it with `old_host_destroyed`")
    # --- key restore: the double-signing guard (operations/backup.py) ---
    # A restore needs the chain to show the validator signed none of its last N commits. N
    # covers a restart of the old host (a reboot and the node's catching up take minutes).
    # UNVERIFIED: Gonka's block time (about 5-6 s is assumed, so 300 blocks is about 25 min).
    restore_check_blocks: int = Field(300, ge=10, le=10000, description="a consensus key is "
                                      "restored only when the chain shows its validator signed "
                                      "none of this many latest blocks")
    old_host_destroyed: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,252}(,[A-Za-z0-9][A-Za-z0-9_.@-]{0,252})*$",
        description="the host(s) (inventory names, comma-separated) the operator knows are "
        "destroyed for good: a restore no longer waits for evidence about them (`--data "
        "old_host_destroyed=gpu-fra-01`); never overrides a chain that shows the key signing")

    @field_validator("allow_consensus_key_reuse")
    @classmethod
    def _no_bare_reuse(cls, value: bool) -> bool:
        if value:
            raise ValueError("is no longer accepted: name the old host you know is destroyed "
                             "with old_host_destroyed=<host> (a restore still needs the chain "
                             "to show the key is not signing)")
        return value

    # Last, so that its validator sees the catalog, presets and gpu already validated.
    mlnodes: list[MLNode] = Field(min_length=1, description="ML nodes on this host")

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not KEY_NAME_RE.match(value):
            raise ValueError("must match ^[a-z0-9][a-z0-9-]{1,62}$")
        return value

    @field_validator("account_pubkey")
    @classmethod
    def _pubkey(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not base64") from exc
        if len(raw) != 33:
            raise ValueError(f"decodes to {len(raw)} bytes, a compressed key has 33")
        if raw[0] not in (2, 3):
            raise ValueError("does not start with 0x02 or 0x03 (not a compressed secp256k1 key)")
        return value

    @field_validator("data_disk")
    @classmethod
    def _data_disk(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^/dev/[A-Za-z0-9][A-Za-z0-9/_.:-]*$", value):
            raise ValueError("not an absolute /dev/... block device path")
        # /dev/disk/by-path names hold `:`; a `.`/`..` segment or `//` could leave /dev
        if value is not None and ("//" in value or value.endswith("/") or any(
                part in (".", "..") for part in value.split("/"))):
            raise ValueError("not an absolute /dev/... block device path (a `.` or `..` "
                             "segment, or an empty one)")
        return value

    @field_validator("persistent_peers", "seeds")
    @classmethod
    def _peers(cls, values: list[str]) -> list[str]:
        for peer in values:
            if not PEER_RE.match(peer):
                raise ValueError(f"{peer!r} is not node_id@host:port")
        return values

    @field_validator("admin_ssh_keys")
    @classmethod
    def _ssh_keys(cls, values: list[str]) -> list[str]:
        for key in values:
            if not SSH_KEY_RE.match(key.strip()):
                raise ValueError(f"{key[:40]!r}... is not an OpenSSH public key line")
        return [key.strip() for key in values]

    @model_validator(mode="after")
    def _ssh_keys_exclusive(self) -> HostConfig:
        # exclusive with no key listed removes every key of the login user (the one this run
        # logs in with is kept at apply time, but no admin could log in after it)
        if self.admin_ssh_keys_exclusive and not self.admin_ssh_keys:
            raise ValueError("admin_ssh_keys_exclusive: true with an empty admin_ssh_keys "
                             "would remove every key of the login user; list the admin keys "
                             "or set it false")
        return self

    @field_validator("gonka_ref")
    @classmethod
    def _gonka_ref(cls, value: str) -> str:
        # goes into git commands (quoted) and into the comment head of the rendered compose
        # override: a newline there would start YAML of its own
        if not GIT_REF_RE.match(value) or ".." in value or "@{" in value:
            raise ValueError("not a git branch, tag or commit name (letters, digits, `._/+-`)")
        return value

    @field_validator("public_ports")
    @classmethod
    def _public_ports(cls, values: list[int | str]) -> list[int | str]:
        for value in values:
            text = str(value)
            if not PUBLIC_PORT_RE.match(text) or not 1 <= int(text.split("/")[0]) <= 65535:
                raise ValueError(f"{value!r} is not a port like 30303 or '30303/udp'")
        return values

    @field_validator("mlnode_versions")
    @classmethod
    def _one_current(cls, values: list[MLNodeVersion]) -> list[MLNodeVersion]:
        current = [v.version for v in values if v.current]
        if len(current) != 1:
            raise ValueError(f"needs exactly one current version (got {len(current)}: "
                             f"{current})")
        services = [v.service for v in values]
        for dup in sorted({s for s in services if services.count(s) > 1}):
            raise ValueError(f"two versions map to the same service name {dup}")
        return values

    @field_validator("mlnodes")
    @classmethod
    def _mlnodes(cls, nodes: list[MLNode], info: ValidationInfo) -> list[MLNode]:
        problems: list[str] = []
        ids = [n.id for n in nodes]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"mlnodes: duplicate ML node id {dup!r}")
        if "model_catalog" not in info.data:
            return nodes  # the catalog itself is invalid and reported on its own
        catalog = {**info.data["model_catalog"], **info.data.get("model_catalog_extra", {})}
        gpu: Gpu | None = info.data.get("gpu")
        presets = info.data.get("gpu_presets", {})
        for index, node in enumerate(nodes):
            for model in node.models:
                if model not in catalog:
                    problems.append(f"mlnodes[{index}].models: {model!r} is not in model_catalog "
                                    f"(known: {', '.join(sorted(catalog))})")
                    continue
                need = catalog[model].min_vram_gb
                if gpu and need > gpu.total_vram_gb:
                    problems.append(
                        f"mlnodes[{index}].models: {model} needs {need} GB VRAM, gpu has "
                        f"{gpu.count} x {gpu.vram_gb} = {gpu.total_vram_gb} GB")
                if node.preset and node.preset not in presets.get(model, {}):
                    problems.append(f"mlnodes[{index}].preset: no preset {node.preset!r} for "
                                    f"{model} in gpu_presets")
                need_image = catalog[model].min_mlnode_image
                if node.image and need_image and comparable(node.image) and \
                        MLNodeTag.of_image(node.image) < MLNodeTag.of_image(need_image):
                    problems.append(f"mlnodes[{index}].image: {node.image} is older than "
                                    f"{need_image}, the oldest MLNode image that serves {model}")
        if problems:
            raise ValueError("\n".join(problems))
        return nodes

    @model_validator(mode="after")
    def _distinct_ports(self) -> HostConfig:
        ports = [self.api_port, self.api_ssl_port, self.p2p_port]
        if len(set(ports)) != len(ports):
            raise ValueError(f"api_port: api_port, api_ssl_port and p2p_port must differ "
                             f"(got {ports})")
        return self

    @model_validator(mode="after")
    def _mlnode_services(self) -> HostConfig:
        services = self.mlnode_services
        if len(services) > 1 and len(self.mlnode_versions) > 1:
            raise ValueError("mlnodes: ML nodes that need different MLNode images ("
                             + ", ".join(s.image for s in services) + ") and a side-by-side "
                             "version upgrade (mlnode_versions) on one host are not supported")
        problems = []
        for index, node in enumerate(self.mlnodes):
            service = next((s for s in services if node.id in s.nodes), None)
            if service is None or service is services[0]:
                continue
            for field in ("poc_port", "inference_port"):
                if field in node.model_fields_set and getattr(node, field) != getattr(service,
                                                                                      field):
                    problems.append(f"mlnodes[{index}].{field}: this node runs on "
                                    f"{service.service} ({service.image}), reached through the "
                                    f"ML proxy's port {getattr(service, field)}; leave it unset")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _poc_participation(self) -> HostConfig:
        catalog, served = self.catalog, self.served_models
        poc = sorted(m for m, c in catalog.items() if c.poc)
        problems = []
        for model, choice in self.poc_participation.items():
            field = f"poc_participation.{model}"
            if model not in catalog and model not in _known_model_ids():
                # A model of another release is a choice made ahead of (or left from) a
                # release change: kept and not acted on. One no release knows is a typo.
                problems.append(f"{field}: not a model of release {self.release} nor of any "
                                f"known release (PoC models: {', '.join(poc) or 'none'})")
            elif model not in poc:
                continue
            elif choice == "run" and model not in served:
                problems.append(f"{field}: 'run' needs an ML node of this host that serves "
                                f"{model} (mlnodes[].models)")
            elif isinstance(choice, PocDelegate) and \
                    choice.delegate == account_address(self.account_pubkey):
                problems.append(f"{field}: delegates to this host's own cold account "
                                f"{choice.delegate} (the chain refuses self-delegation)")
        for model in poc:
            if model not in self.poc_participation and model not in served:
                problems.append(
                    f"poc_participation: no choice for PoC model {model} of release "
                    f"{self.release}, which no ML node of this host serves: doing nothing costs "
                    "15 % of weight per epoch; set 'run' (and serve it), 'refuse' (10 %) or "
                    "{'delegate': 'gonka1…'}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # --- derived values ---
    @property
    def served_models(self) -> set[str]:
        """The models this host's ML nodes serve."""
        return {model for node in self.mlnodes for model in node.models}

    @property
    def poc_models(self) -> list[str]:
        """The release's PoC models (catalog entries with ``poc: true``)."""
        return sorted(m for m, c in self.catalog.items() if c.poc)

    @property
    def poc_choices(self) -> dict[str, str | PocDelegate]:
        """The choice for each PoC model of the release: the host's own, else `run` (it serves
        the model: validation guarantees one or the other)."""
        return {m: self.poc_participation.get(m, "run") for m in self.poc_models}

    @property
    def collateral_ngonka(self) -> int | None:
        return parse_ngonka(self.collateral) if self.collateral else None

    @property
    def cold_balance_min_ngonka(self) -> int:
        return parse_ngonka(self.cold_balance_min)

    @property
    def chain_api(self) -> str:
        return (self.chain_api_url or f"{self.seed_api_url.rstrip('/')}/chain-api").rstrip("/")

    @property
    def catalog(self) -> dict[str, CatalogModel]:
        return {**self.model_catalog, **self.model_catalog_extra}

    @property
    def gonka_path(self) -> str:
        return self.gonka_dir or f"{self.data_mount}/gonka"

    @property
    def join_dir(self) -> str:
        return f"{self.gonka_path}/deploy/join"

    @property
    def hf_path(self) -> str:
        return self.hf_home or f"{self.data_mount}/hf"

    @property
    def public_url(self) -> str:
        return f"http://{_url_host(self.public_host)}:{self.api_port}"

    @property
    def p2p_external_address(self) -> str:
        return f"tcp://{_url_host(self.public_host)}:{self.p2p_port}"

    @property
    def current_version(self) -> MLNodeVersion:
        return next(v for v in self.mlnode_versions if v.current)

    @property
    def gpu_key(self) -> str:
        return f"{self.gpu.model}x{self.gpu.count}"

    def mlnode_image(self, node: MLNode) -> str:
        """The MLNode image ``node`` runs (see :func:`release.images.choose_image`)."""
        catalog = self.catalog
        minimums = [catalog[m].min_mlnode_image for m in node.models
                    if m in catalog and catalog[m].min_mlnode_image]
        return choose_image(self.current_version.image, node.image, minimums)

    @property
    def mlnode_services(self) -> list[MLNodeService]:
        """One MLNode service per image the local ML nodes need, in the order of mlnodes: the
        current version's service for the first, ``<that>-<tag>`` for the others. Each extra
        service gets its own ML proxy port pair (8081/5001, 8082/5002, …)."""
        primary = self.current_version.service
        out: list[MLNodeService] = []
        for node in self.mlnodes:
            if not node.local:
                continue
            image = self.mlnode_image(node)
            found = next((s for s in out if s.image == image), None)
            if found is None:
                k = len(out)
                name = primary if k == 0 else f"{primary}-{slug(image)}"
                if any(s.service == name for s in out):
                    name = f"{name}-{k}"
                found = MLNodeService(service=name, image=image, poc_port=8080 + k,
                                      inference_port=5000 + k, nodes=[])
                out.append(found)
            found.nodes.append(node.id)
        if not out:  # only remote ML nodes: the current version still runs (as before)
            out.append(MLNodeService(service=primary, image=self.current_version.image,
                                     poc_port=8080, inference_port=5000, nodes=[]))
        return out


def _known_model_ids() -> frozenset[str]:
    """Every model id of every release profile this checkout knows (shipped and
    ``GONKA_RELEASES_PATH``)."""
    from .release.profiles import ENV_PATH

    return _model_ids_of_profiles(os.environ.get(ENV_PATH, ""))


@cache
def _model_ids_of_profiles(search_path: str) -> frozenset[str]:
    from .release.profiles import ENV_PATH, ReleaseError, known_names, load_profile

    environ = {ENV_PATH: search_path}
    ids: set[str] = set()
    for name in known_names(environ):
        try:
            ids |= set(load_profile(name, environ).model_catalog)
        except ReleaseError:
            continue
    return frozenset(ids)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def unknown_keys(data: dict) -> list[str]:
    """Keys of a host's data that are neither schema fields nor pyinfra's own."""
    fields = set(HostConfig.model_fields)
    return sorted(
        key for key in data
        if key not in fields and not key.startswith(PYINFRA_KEY_PREFIXES)
    )
