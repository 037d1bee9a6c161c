"""A fake `torch` for simulated GPU hosts: only what deploy checks use (torch.cuda.*).

Driven by gonkasim settings; matches ../shared/reference/gpu/torch-cuda.json on the
default H100 host. The docker shim puts gonkasim/fake_site on PYTHONPATH in mlnode containers.
"""

import os
import sys
import types

_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
if _root not in sys.path:
    sys.path.append(_root)

from gonkasim import gpu as _gpu, settings as _settings  # noqa: E402

__version__ = _gpu.TORCH
version = types.SimpleNamespace(cuda=_gpu.CUDA, __version__=_gpu.TORCH)


def _devices():
    cfg = _settings.load()
    return [] if cfg.get("nvidia_smi_fail") else _gpu.devices(cfg)


def _is_available():
    return bool(_devices())


def _device_count():
    return len(_devices())


def _get(i):
    devs = _devices()
    if not devs:
        raise RuntimeError("Found no NVIDIA driver on your system. Please check that you have "
                           "an NVIDIA GPU and installed a driver from "
                           "http://www.nvidia.com/Download/index.aspx")
    if not 0 <= int(i) < len(devs):
        raise AssertionError("Invalid device id")
    return devs[int(i)]


def _get_device_name(i=0):
    return _get(i)["name"]


def _get_device_properties(i=0):
    d = _get(i)
    major, minor = (int(x) for x in d["compute_cap"].split("."))
    return types.SimpleNamespace(name=d["name"], total_memory=d["memory_mib"] * 1024 * 1024,
                                 major=major, minor=minor, multi_processor_count=132)


cuda = types.SimpleNamespace(
    is_available=_is_available, device_count=_device_count,
    get_device_name=_get_device_name, get_device_properties=_get_device_properties,
    current_device=lambda: 0,
)
