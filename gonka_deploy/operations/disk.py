"""Data disk: create a filesystem on a blank disk only, keep it in fstab, mount it.

Formatting is refused when the device holds anything: a filesystem, a partition table, any other
signature, partitions, holders or a mount. The one exception is our own filesystem, which is kept
as it is: the type and label we make, the UUID this node chose for it (derived from its recorded
identity), and mounted nowhere or only at the data mount. A label alone never makes a disk ours.
"""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import OperationError, QuoteString, StringCommand
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import Mounts

from ..facts.disk import DiskProbe
from .util import describe_size, need, operation, refuse, upload_text

FSTAB = "/etc/fstab"
FSTAB_BACKUP = "/etc/fstab.gonka-deploy.bak"


def what_is_on(info) -> list[str]:
    found = []
    if info["fstype"]:
        found.append(f"{info['fstype']} filesystem (UUID {info['uuid']}, "
                     f"label {info['label'] or '-'})")
    if info["pttype"]:
        found.append(f"{info['pttype']} partition table")
    others = [s for s in info["signatures"] if s not in (info["fstype"], info["pttype"])]
    if others:
        found.append("signatures " + ", ".join(others))
    if info["partitions"]:
        found.append("partitions " + ", ".join(info["partitions"]))
    if info["holders"]:
        found.append("holders " + ", ".join(info["holders"]))
    if info["mounts"]:
        found.append("mounted at " + ", ".join(info["mounts"]))
    return found


@operation()
def filesystem(device: str, fstype: str = "ext4", label: str = "gonka-data",
               uuid: str | None = None, mount_path: str | None = None):
    """
    Create a filesystem on a blank block device; refuse a device that holds anything.

    + device: block device path, e.g. ``/dev/vdb``
    + fstype: ``ext4`` or ``xfs``
    + label: filesystem label that marks the filesystem as ours
    + uuid: filesystem UUID to create, chosen up front so fstab can name it before mkfs runs
    + mount_path: where the filesystem belongs; mounted anywhere else, it is not ours

    A device that already holds our filesystem (``fstype``, ``label``, ``uuid``, mounted at most
    at ``mount_path``) is kept (no change). The same label with another UUID (another node's
    disk, a copy) or a mount elsewhere is refused.

    **Example:**

    .. code:: python

        disk.filesystem(name="Format the data disk", device="/dev/vdb", fstype="ext4",
                        uuid="0b9f3c1e-6f63-4b5e-9d4e-2f1f0a6c7d11")
    """
    info = need(host.get_fact(DiskProbe, device=device), f"what is on {device}")
    if not info["exists"]:
        yield from refuse(f"{device} does not exist")
        return
    if not info["block"]:
        yield from refuse(f"{device} is not a block device")
        return
    if info["fstype"] == fstype and info["label"] == label:
        elsewhere = [m for m in info["mounts"] if m != mount_path]
        if uuid and info["uuid"] != uuid:
            yield from refuse(
                f"refusing to use {device}: it holds a {fstype} filesystem labelled {label} with "
                f"UUID {info['uuid']}, not the UUID {uuid} this node chose for its data disk "
                "(another node's disk or a copy?). If it is this node's disk and this machine "
                "lost the node's local state (its identity), restore that state; otherwise wipe "
                "the disk yourself if it is really unused.")
            return
        if elsewhere:
            yield from refuse(
                f"refusing to use {device}: our {fstype} filesystem is mounted at "
                f"{', '.join(elsewhere)}, not at {mount_path}. Unmount it there first.")
            return
        host.noop(f"{device} already holds our {fstype} filesystem (UUID {info['uuid']})")
        return
    found = what_is_on(info)
    if found:
        yield from refuse(f"refusing to format {device}: it holds " + "; ".join(found)
                          + ". Wipe it yourself if it is really unused.")
        return
    verb = "formatting" if state.is_executing else "would format"
    logger.info(f"{host.print_prefix}{verb} {device} ({fstype}, {describe_size(info['size'])})")
    if fstype == "ext4":
        command = ["mkfs.ext4", "-q", "-L", QuoteString(label)]
        if uuid:
            command += ["-U", QuoteString(uuid)]
    elif fstype == "xfs":
        command = ["mkfs.xfs", "-q", "-L", QuoteString(label)]
        if uuid:
            command += ["-m", QuoteString(f"uuid={uuid}")]
    else:
        raise OperationError(f"unsupported filesystem type {fstype!r}")
    yield StringCommand(*command, QuoteString(device))


def fstab_line(spec: str, path: str, fstype: str, options: str) -> str:
    return f"{spec} {path} {fstype} {options} 0 2"


@operation()
def fstab_entry(path: str, spec: str, fstype: str = "ext4",
                options: str = "defaults,nofail,x-systemd.device-timeout=30s"):
    """
    Keep exactly one ``/etc/fstab`` line for a mount point; back fstab up before the first change.

    + path: mount point
    + spec: what to mount, e.g. ``UUID=…``
    + fstype: filesystem type
    + options: mount options (``nofail`` keeps a missing disk from stopping the boot)

    Other lines for the same mount point or the same spec are replaced by the one line.

    **Example:**

    .. code:: python

        disk.fstab_entry(path="/mnt/ssd", spec="UUID=0b9f3c1e-…", fstype="ext4")
    """
    lines = host.get_fact(FileContents, path=FSTAB) or []
    wanted = fstab_line(spec, path, fstype, options)

    def ours(line: str) -> bool:
        fields = line.split()
        return bool(fields) and not fields[0].startswith("#") and (
            fields[0] == spec or (len(fields) > 1 and fields[1] == path))

    current = [line for line in lines if ours(line)]
    if current == [wanted]:
        host.noop(f"{FSTAB} mounts {path} from {spec}")
        return
    new = [line for line in lines if not ours(line)] + [wanted]
    yield from upload_text(FSTAB, "\n".join(new) + "\n", mode=0o644, old="\n".join(lines),
                           backup=FSTAB_BACKUP)


@operation()
def mounted(path: str, spec: str):
    """
    Mount a filesystem now (from its fstab line), creating the mount point.

    + path: mount point
    + spec: what is mounted there, e.g. ``UUID=…`` (for the message)

    **Example:**

    .. code:: python

        disk.mounted(path="/mnt/ssd", spec="UUID=0b9f3c1e-…")
    """
    if path in (host.get_fact(Mounts) or {}):
        host.noop(f"{path} is mounted")
        return
    yield StringCommand("mkdir", "-p", QuoteString(path))
    yield StringCommand("mount", QuoteString(path))
