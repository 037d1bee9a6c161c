"""Facts for the preflight: OS, container tooling, free space."""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

TOOLS_SCRIPT = r"""
. /etc/os-release 2>/dev/null && echo "os=$ID $VERSION_ID"
echo "docker=$(docker version --format '{{.Client.Version}}' 2>/dev/null | head -n1)"
echo "compose=$(docker compose version --short 2>/dev/null | head -n1)"
echo "nvidia_ctk=$(nvidia-ctk --version 2>/dev/null | head -n1)"
echo "python3=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
python3 -c 'import ensurepip, venv' 2>/dev/null && echo venv=yes || echo venv=
"""

FREE_SCRIPT = r"""
p="$1"
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "path=$p"
echo "mountpoint=$(findmnt -n -o TARGET --target "$p" 2>/dev/null)"
echo "avail=$(df -P -B1 "$p" | awk 'NR==2 {print $4}')"
"""


class ToolsDict(TypedDict):
    os: str
    docker: str
    compose: str
    nvidia_ctk: str
    python3: str
    venv: str


class Tools(FactBase[ToolsDict]):
    """
    Returns the OS (``ID VERSION_ID``) and the versions of the tools a Gonka host needs; an empty
    string for a tool that is missing.

    .. code:: python

        {"os": "ubuntu 24.04", "docker": "27.3.1", "compose": "2.29.7",
         "nvidia_ctk": "NVIDIA Container Toolkit CLI version 1.17.3", "python3": "3.12",
         "venv": "yes"}
    """

    @override
    def command(self) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(TOOLS_SCRIPT))

    @override
    def process(self, output: list[str]) -> ToolsDict:
        info = dict.fromkeys(ToolsDict.__annotations__, "")
        for line in output:
            key, _, value = line.partition("=")
            if key in info:
                info[key] = value.strip()
        return ToolsDict(**info)


class FreeSpaceDict(TypedDict):
    path: str
    mountpoint: str
    avail: int


class FreeSpace(FactBase[FreeSpaceDict]):
    """
    Returns the free bytes of the filesystem holding ``path`` (or its nearest existing parent).
    """

    @override
    def command(self, path: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(FREE_SCRIPT), "_", QuoteString(path))

    @override
    def process(self, output: list[str]) -> FreeSpaceDict:
        info = {"path": "", "mountpoint": "", "avail": "0"}
        for line in output:
            key, _, value = line.partition("=")
            info[key] = value.strip()
        return FreeSpaceDict(path=info["path"], mountpoint=info["mountpoint"],
                             avail=int(info["avail"] or 0))
