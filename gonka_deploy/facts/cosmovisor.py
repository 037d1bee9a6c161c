"""Facts about the chain upgrade binaries under cosmovisor (``hostside/cosmovisor.py state``)."""

from __future__ import annotations

import json
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import source

COSMOVISOR_SCRIPT = source("cosmovisor.py")


class InstalledFileDict(TypedDict):
    sha256: str
    mode: int


class UpgradeDirDict(TypedDict):
    dir: bool
    files: dict[str, InstalledFileDict]   # every file of bin/
    marker: dict | None                   # what gonka-deploy installed there, when it did


class CosmovisorHomeDict(TypedDict):
    started: bool          # the service has run on this home (cosmovisor then owns `current`)
    current: str | None    # upgrades/<name>, genesis, or the raw link target; None: no link
    data_dir: bool
    upgrades: dict[str, UpgradeDirDict]


def state_args(homes: dict[str, str], container_homes: dict[str, str], upgrades: list[str],
               measure_data: bool = False) -> str:
    """The fact's argument (sorted JSON: the same fact every run)."""
    return json.dumps({"homes": homes, "container_homes": container_homes,
                       "upgrades": sorted(set(upgrades)), "measure_data": measure_data},
                      sort_keys=True)


class CosmovisorState(FactBase[dict | None]):
    """
    Returns, per cosmovisor home (``inference``, ``dapi``), whether the service has started
    there, where ``current`` points, whether ``data/`` exists, and for each named upgrade the
    sha256 and mode of each file of ``bin/`` and gonka-deploy's marker; plus ``free_bytes`` of
    the filesystem and ``data_bytes`` of the node's ``data/`` (when asked). ``args`` comes from
    :func:`state_args`.

    .. code:: python

        {"inference": {"started": False, "current": None, "data_dir": False,
                       "upgrades": {"v0.2.16": {"dir": True, "marker": {...},
                                    "files": {"inferenced": {"sha256": "…", "mode": 493}}}}},
         "dapi": {...}, "free_bytes": 912345678, "data_bytes": None}
    """

    @override
    def requires_command(self, args: str) -> str:
        return "python3"

    @override
    def command(self, args: str) -> StringCommand:
        return StringCommand("python3", "-c", QuoteString(COSMOVISOR_SCRIPT), "state",
                             QuoteString(args))

    @override
    def process(self, output: list[str]) -> dict | None:
        for line in reversed(output):
            if line.strip().startswith("{"):
                return json.loads(line)
        return None
