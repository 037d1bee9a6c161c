"""Facts about block devices: everything needed to decide that a disk is really blank.

``lsblk`` alone is not enough (it reads udev's database, empty on hosts without udev): the probe
asks the kernel and the device itself (``blkid -p``, ``wipefs -n``, sysfs, mountinfo).
"""

from __future__ import annotations

import json
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Runs as `sh -c SCRIPT _ DEVICE`: the device is a positional parameter, never spliced into code.
PROBE_SCRIPT = r"""
d="$1"
[ -e "$d" ] || { echo exists=0; exit 0; }
echo exists=1
[ -b "$d" ] || { echo block=0; exit 0; }
echo block=1
echo "size=$(blockdev --getsize64 "$d" 2>/dev/null || echo 0)"
mm=$(printf '%d:%d' "0x$(stat -L -c %t "$d")" "0x$(stat -L -c %T "$d")")
echo "majmin=$mm"
sys=/sys/dev/block/$mm
for p in "$sys"/*/partition; do [ -e "$p" ] && echo "partition=${p%/partition}"; done
for h in "$sys"/holders/*; do [ -e "$h" ] && echo "holder=${h##*/}"; done
awk -v mm="$mm" '$3 == mm {print "mount=" $5}' /proc/self/mountinfo
blkid -p -o export "$d" 2>/dev/null | sed 's/^/blkid./'
printf 'wipefs='; wipefs -n -J "$d" 2>/dev/null | tr -d '\n'; echo
"""


class DiskProbeDict(TypedDict):
    exists: bool
    block: bool
    size: int
    fstype: str | None
    uuid: str | None
    label: str | None
    pttype: str | None
    signatures: list[str]
    partitions: list[str]
    holders: list[str]
    mounts: list[str]


class DiskProbe(FactBase[DiskProbeDict]):
    """
    Returns what is on a block device: filesystem, partition table, other signatures,
    partitions, holders and mounts. ``exists`` is False when the path is missing.

    .. code:: python

        {"exists": True, "block": True, "size": 1073741824, "fstype": "ext4",
         "uuid": "9f0c…", "label": "gonka-data", "pttype": None,
         "signatures": ["ext4"], "partitions": [], "holders": [], "mounts": ["/mnt/ssd"]}
    """

    @override
    def requires_command(self, device: str) -> str:
        return "blkid"

    @override
    def command(self, device: str) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(PROBE_SCRIPT), "_", QuoteString(device))

    @override
    def process(self, output: list[str]) -> DiskProbeDict:
        info = DiskProbeDict(exists=False, block=False, size=0, fstype=None, uuid=None,
                             label=None, pttype=None, signatures=[], partitions=[], holders=[],
                             mounts=[])
        for line in output:
            key, _, value = line.partition("=")
            if key == "exists":
                info["exists"] = value == "1"
            elif key == "block":
                info["block"] = value == "1"
            elif key == "size":
                info["size"] = int(value or 0)
            elif key == "partition":
                info["partitions"].append(value.rsplit("/", 1)[-1])
            elif key == "holder":
                info["holders"].append(value)
            elif key == "mount":
                info["mounts"].append(value)
            elif key == "blkid.TYPE":
                info["fstype"] = value
            elif key == "blkid.UUID":
                info["uuid"] = value
            elif key == "blkid.LABEL":
                info["label"] = value
            elif key == "blkid.PTTYPE":
                info["pttype"] = value
            elif key == "wipefs" and value.strip():
                found = json.loads(value).get("signatures", [])
                info["signatures"] = [s.get("type", "?") for s in found]
        return info
