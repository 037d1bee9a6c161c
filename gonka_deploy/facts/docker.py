"""Facts about the container engine on a host: what is installed, what runs, the init system."""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

ENGINE_SCRIPT = r"""
. /etc/os-release 2>/dev/null && echo "os=$ID $VERSION_ID ${VERSION_CODENAME:-}"
d=$(command -v dockerd)
echo "dockerd=$d"
[ -n "$d" ] && echo "engine_package=$(dpkg-query -S "$d" 2>/dev/null | head -n1 | cut -d: -f1)"
echo "client=$(docker version --format '{{.Client.Version}}' 2>/dev/null | head -n1)"
echo "server=$(timeout 10 docker version --format '{{.Server.Version}}' 2>/dev/null | head -n1)"
echo "compose=$(docker compose version --short 2>/dev/null | head -n1)"
[ -d /run/systemd/system ] && echo init=systemd || echo init=sysv
"""


class DockerEngineDict(TypedDict):
    os: str            # "ID VERSION_ID CODENAME"
    dockerd: str       # path of dockerd, "" when the engine is not installed
    engine_package: str  # the Debian package that holds dockerd (docker-ce, docker.io), or ""
    client: str        # docker CLI version
    server: str        # engine version, "" when the daemon does not answer
    compose: str       # Compose v2 plugin version (``docker compose version --short``)
    init: str          # systemd when PID 1 is systemd, else sysv (service/init scripts)


class DockerEngine(FactBase[DockerEngineDict]):
    """
    Returns the Docker Engine and Compose plugin state of a host; "" for what is missing.

    .. code:: python

        {"os": "debian 12 bookworm", "dockerd": "/usr/sbin/dockerd",
         "engine_package": "docker.io", "client": "20.10.24", "server": "20.10.24",
         "compose": "2.40.3", "init": "sysv"}
    """

    @override
    def command(self) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(ENGINE_SCRIPT))

    @override
    def process(self, output: list[str]) -> DockerEngineDict:
        info = dict.fromkeys(DockerEngineDict.__annotations__, "")
        for line in output:
            key, _, value = line.partition("=")
            if key in info:
                info[key] = value.strip()
        return DockerEngineDict(**info)
