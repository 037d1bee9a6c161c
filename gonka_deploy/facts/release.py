"""Facts about the release files in a host's gonka clone."""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Runs as `sh -c SCRIPT _ CLONE FILE...`: the clone's HEAD, then `sha256  path` per file that
# exists (as sha256sum prints it), nothing for a missing one.
SUMS_SCRIPT = r"""
cd "$1" 2>/dev/null || exit 0
echo "head=$(git rev-parse HEAD 2>/dev/null)"
shift
for f; do [ -f "$f" ] && sha256sum -- "$f"; done
exit 0
"""


class CloneFilesDict(TypedDict):
    head: str | None
    sha256: dict[str, str]


class CloneFiles(FactBase[CloneFilesDict | None]):
    """
    Returns the clone's HEAD commit and the sha256 of each of ``files`` (repo paths) it holds,
    or None when there is no clone yet.

    .. code:: python

        {"head": "ee730031…", "sha256": {"deploy/join/docker-compose.yml": "e287105a…"}}
    """

    @override
    def requires_command(self, path: str, files: list[str]) -> str:
        return "sha256sum"

    @override
    def command(self, path: str, files: list[str]) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(SUMS_SCRIPT), "_", QuoteString(path),
                             *[QuoteString(f) for f in files])

    @override
    def process(self, output: list[str]) -> CloneFilesDict | None:
        if not output:
            return None
        info = CloneFilesDict(head=None, sha256={})
        for line in output:
            if line.startswith("head="):
                info["head"] = line[5:].strip() or None
            elif "  " in line:
                digest, _, name = line.partition("  ")
                info["sha256"][name.strip()] = digest.strip()
        return info
