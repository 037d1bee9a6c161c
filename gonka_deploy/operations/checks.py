"""Preflight checks: each missing thing is a clear error, never a silent skip."""

from __future__ import annotations

from pyinfra import host

from ..facts.checks import FreeSpace, Tools
from ..facts.disk import DiskProbe
from .util import describe_size, operation, refuse

SUPPORTED_OS = {"ubuntu": ("22.04", "24.04"), "debian": ("12",)}
# The NVIDIA Container Toolkit comes from NVIDIA's own repository, which this toolkit does not
# add for the operator: the commands of NVIDIA's install guide (docs.nvidia.com/datacenter/
# cloud-native/container-toolkit/latest/install-guide.html, "Installing with Apt").
NVIDIA_CTK_INSTALL = (
    "curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | sudo gpg --dearmor -o "
    "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg && curl -s -L "
    "https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list | "
    "sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg]"
    " https://#g' | sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list && "
    "sudo apt-get update && sudo apt-get install -y nvidia-container-toolkit && "
    "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker")
HINTS = {
    "nvidia_ctk": f"install the NVIDIA Container Toolkit: {NVIDIA_CTK_INSTALL}",
    "python3": "apt-get install python3",
    "venv": "apt-get install python3-venv",
}


@operation()
def preflight(gpu: bool = True):
    """
    Check the OS and the tools a Gonka host needs; fail the host naming each missing one.

    + gpu: also require the NVIDIA Container Toolkit (``nvidia-ctk``)

    **Example:**

    .. code:: python

        checks.preflight()
    """
    tools = host.get_fact(Tools)
    problems = []
    os_id, _, version = tools["os"].partition(" ")
    if version not in SUPPORTED_OS.get(os_id, ()):
        problems.append(f"OS {tools['os'] or 'unknown'} is not supported (Ubuntu 22.04/24.04)")
    # Docker Engine and Compose are installed by phase 1 itself (operations/docker.py).
    needed = ["python3", "venv"] + (["nvidia_ctk"] if gpu else [])
    for tool in needed:
        if not tools[tool]:
            problems.append(f"{tool.replace('_', '-')} is missing: {HINTS[tool]}")
    if problems:
        yield from refuse("preflight failed: " + "; ".join(problems))
        return
    host.noop(f"preflight ok: {tools['os']}, docker {tools['docker'] or '(installed by phase 1)'}"
              f", compose {tools['compose'] or '(installed by phase 1)'}"
              + (f", {tools['nvidia_ctk']}" if gpu else ""))


@operation()
def free_space(path: str, min_bytes: int, device: str | None = None):
    """
    Fail the host when the filesystem at ``path`` has less than ``min_bytes`` free.

    + path: the directory that will hold the data (the data mount)
    + min_bytes: bytes needed
    + device: the data disk that will be mounted at ``path``; before the first mount its size
      stands in for the free space

    **Example:**

    .. code:: python

        checks.free_space(path="/mnt/ssd", min_bytes=200 * 10**9, device="/dev/vdb")
    """
    free = host.get_fact(FreeSpace, path=path)
    avail, where = free["avail"], free["mountpoint"] or free["path"]
    if device and free["mountpoint"] != path:
        probe = host.get_fact(DiskProbe, device=device)
        if probe and probe["exists"]:
            avail, where = probe["size"], f"{device} (to be mounted at {path})"
    if avail < min_bytes:
        yield from refuse(f"{where} has {describe_size(avail)} free, "
                          f"{describe_size(min_bytes)} needed")
        return
    host.noop(f"{where} has {describe_size(avail)} free")
