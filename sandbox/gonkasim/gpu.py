"""Simulated GPUs from settings["gpu"], and nvidia-smi output modelled on real captures
(../shared/reference/gpu beside the repo: driver 580.159.04, CUDA 13.0, one H100 80GB HBM3)."""

from __future__ import annotations

import hashlib
import time
import uuid

from gonkasim import settings

DRIVER = "580.159.04"
CUDA = "13.0"
TORCH = "2.11.0+cu130"
FAIL_MESSAGE = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                "Make sure that the latest NVIDIA driver is installed and running.")

# model key -> (product name, total MiB, nominal GB, architecture, max power W, compute cap)
KNOWN = {
    "H100": ("NVIDIA H100 80GB HBM3", 81559, 80, "Hopper", 700, "9.0"),
    "H200": ("NVIDIA H200", 143771, 141, "Hopper", 700, "9.0"),
    "A100": ("NVIDIA A100-SXM4-80GB", 81920, 80, "Ampere", 400, "8.0"),
    "B200": ("NVIDIA B200", 183359, 180, "Blackwell", 1000, "10.0"),
    "B300": ("NVIDIA B300 SXM6 AC", 275040, 288, "Blackwell", 1100, "10.3"),
    "L40": ("NVIDIA L40", 46068, 48, "Ada Lovelace", 300, "8.9"),
    "RTX4090": ("NVIDIA GeForce RTX 4090", 24564, 24, "Ada Lovelace", 450, "8.9"),
    "RTX3090": ("NVIDIA GeForce RTX 3090", 24576, 24, "Ampere", 350, "8.6"),
}


def devices(cfg: dict | None = None) -> list[dict]:
    """One dict per simulated GPU: index, name, uuid, bus_id, memory_mib, arch, power, cc."""
    cfg = cfg or settings.load()
    g = cfg.get("gpu") or {}
    model = str(g.get("model", "H100"))
    key = model.upper().replace(" ", "").replace("-", "")
    name, mib, nominal, arch, power, cc = KNOWN.get(
        key, (model if model.startswith("NVIDIA") else f"NVIDIA {model}",
              int(g.get("vram_gb", 80)) * 1024, int(g.get("vram_gb", 80)), "Hopper", 700, "9.0"))
    if "vram_gb" in g and int(g["vram_gb"]) != nominal:
        mib = int(g["vram_gb"]) * 1024
    out = []
    for i in range(int(g.get("count", 1))):
        digest = hashlib.sha256(f"{name}:{i}".encode()).digest()
        out.append({
            "index": i, "name": name, "uuid": f"GPU-{uuid.UUID(bytes=digest[:16])}",
            "bus_id": f"00000000:00:{0x06 + i:02X}.0",
            "memory_mib": mib, "arch": arch, "power_max": power, "compute_cap": cc,
            "serial": str(1752524021730 + i), "minor": i,
        })
    return out


def table(devs: list[dict]) -> str:
    now = time.strftime("%a %b %d %H:%M:%S %Y")
    sep = "+-----------------------------------------+------------------------+" \
          "----------------------+"
    out = [
        f"{now}       ",
        "+" + "-" * 89 + "+",
        f"| NVIDIA-SMI {DRIVER}             Driver Version: {DRIVER}     "
        f"CUDA Version: {CUDA}     |",
        sep,
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A |"
        " Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage |"
        " GPU-Util  Compute M. |",
        "|                                         |                        |"
        "               MIG M. |",
        "|=========================================+========================+"
        "======================|",
    ]
    for d in devs:
        name = d["name"][:29]
        out += [
            f"| {d['index']:>3}  {name:<29}  On  |   {d['bus_id']} Off |"
            f"                    0 |",
            f"| N/A   46C    P0            131W / {d['power_max']:>4}W |"
            f"{'0MiB':>11} / {str(d['memory_mib']) + 'MiB':>9} |      0%      Default |",
            "|                                         |                        |"
            "             Disabled |",
            sep,
        ]
    out += [
        "",
        "+" + "-" * 89 + "+",
        "| Processes:" + " " * 78 + "|",
        "|  GPU   GI   CI              PID   Type   Process name"
        "                        GPU Memory |",
        "|        ID   ID" + " " * 63 + "Usage      |",
        "|" + "=" * 89 + "|",
        "|  No running processes found" + " " * 61 + "|",
        "+" + "-" * 89 + "+",
    ]
    return "\n".join(out) + "\n"


def list_lines(devs: list[dict]) -> str:
    return "".join(f"GPU {d['index']}: {d['name']} (UUID: {d['uuid']})\n" for d in devs)


def _field(d: dict, field: str, units: bool) -> str:
    mib = d["memory_mib"]
    values = {
        "index": str(d["index"]), "uuid": d["uuid"], "name": d["name"],
        "gpu_name": d["name"], "serial": d["serial"], "gpu_serial": d["serial"],
        "driver_version": DRIVER, "compute_cap": d["compute_cap"],
        "memory.total": f"{mib} MiB" if units else str(mib),
        "memory.used": "0 MiB" if units else "0",
        "memory.free": f"{mib - 480} MiB" if units else str(mib - 480),
        "memory.reserved": "480 MiB" if units else "480",
        "utilization.gpu": "0 %" if units else "0",
        "utilization.memory": "0 %" if units else "0",
        "temperature.gpu": "46", "pci.bus_id": d["bus_id"], "pci.bus": "0x00",
        "pstate": "P0", "persistence_mode": "Enabled", "count": None,
        "power.draw": "131.00 W" if units else "131.00",
        "power.limit": f"{d['power_max']:.2f} W" if units else f"{d['power_max']:.2f}",
        "vbios_version": "96.00.DA.00.0C", "mig.mode.current": "Disabled",
        "compute_mode": "Default", "clocks.max.sm": "1980 MHz" if units else "1980",
    }
    if field == "count":
        return str(d["count"])
    if field not in values:
        raise KeyError(field)
    return values[field]


_HEADERS = {"memory.total": "memory.total [MiB]", "memory.used": "memory.used [MiB]",
            "memory.free": "memory.free [MiB]", "memory.reserved": "memory.reserved [MiB]",
            "utilization.gpu": "utilization.gpu [%]",
            "utilization.memory": "utilization.memory [%]", "power.draw": "power.draw [W]",
            "power.limit": "power.limit [W]", "clocks.max.sm": "clocks.max.sm [MHz]"}


def query(devs: list[dict], fields: list[str], fmt: set[str]) -> str:
    """--query-gpu=... --format=csv[,noheader][,nounits]; KeyError on an unknown field."""
    units = "nounits" not in fmt
    rows = []
    if "noheader" not in fmt:
        rows.append(", ".join(_HEADERS.get(f, f) if units else f for f in fields))
    for d in devs:
        d = {**d, "count": len(devs)}
        rows.append(", ".join(_field(d, f, units) for f in fields))
    return "\n".join(rows) + "\n"


def xml(devs: list[dict]) -> str:
    now = time.strftime("%a %b %d %H:%M:%S %Y")
    out = ['<?xml version="1.0" ?>',
           '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">',
           "<nvidia_smi_log>",
           f"\t<timestamp>{now}</timestamp>",
           f"\t<driver_version>{DRIVER}</driver_version>",
           f"\t<cuda_version>{CUDA}</cuda_version>",
           f"\t<attached_gpus>{len(devs)}</attached_gpus>"]
    for d in devs:
        mib = d["memory_mib"]
        out += [
            f'\t<gpu id="{d["bus_id"]}">',
            f"\t\t<product_name>{d['name']}</product_name>",
            "\t\t<product_brand>NVIDIA</product_brand>",
            f"\t\t<product_architecture>{d['arch']}</product_architecture>",
            "\t\t<persistence_mode>Enabled</persistence_mode>",
            "\t\t<mig_mode>", "\t\t\t<current_mig>Disabled</current_mig>",
            "\t\t\t<pending_mig>Disabled</pending_mig>", "\t\t</mig_mode>",
            f"\t\t<serial>{d['serial']}</serial>",
            f"\t\t<uuid>{d['uuid']}</uuid>",
            f"\t\t<minor_number>{d['minor']}</minor_number>",
            "\t\t<vbios_version>96.00.DA.00.0C</vbios_version>",
            "\t\t<pci>",
            f"\t\t\t<pci_bus_id>{d['bus_id']}</pci_bus_id>",
            "\t\t</pci>",
            "\t\t<performance_state>P0</performance_state>",
            "\t\t<fb_memory_usage>",
            f"\t\t\t<total>{mib} MiB</total>", "\t\t\t<reserved>480 MiB</reserved>",
            "\t\t\t<used>0 MiB</used>", f"\t\t\t<free>{mib - 480} MiB</free>",
            "\t\t</fb_memory_usage>",
            "\t\t<compute_mode>Default</compute_mode>",
            "\t\t<utilization>", "\t\t\t<gpu_util>0 %</gpu_util>",
            "\t\t\t<memory_util>0 %</memory_util>", "\t\t</utilization>",
            "\t\t<ecc_mode>", "\t\t\t<current_ecc>Enabled</current_ecc>",
            "\t\t\t<pending_ecc>Enabled</pending_ecc>", "\t\t</ecc_mode>",
            "\t\t<temperature>", "\t\t\t<gpu_temp>45 C</gpu_temp>", "\t\t</temperature>",
            "\t\t<gpu_power_readings>",
            "\t\t\t<power_state>P0</power_state>",
            "\t\t\t<instant_power_draw>75.50 W</instant_power_draw>",
            f"\t\t\t<current_power_limit>{d['power_max']:.2f} W</current_power_limit>",
            "\t\t</gpu_power_readings>",
            "\t\t<processes>", "\t\t</processes>",
            "\t</gpu>",
        ]
    out += ["", "</nvidia_smi_log>"]
    return "\n".join(out) + "\n"


def nvidia_smi(argv: list[str], cfg: dict | None = None) -> tuple[int, str, str]:
    """(rc, stdout, stderr) of `nvidia-smi ARGV` on the simulated host."""
    cfg = cfg or settings.load()
    if cfg.get("nvidia_smi_fail"):
        return 9, FAIL_MESSAGE + "\n", ""
    devs = devices(cfg)
    if argv[:1] in (["-L"], ["--list-gpus"]):
        return 0, list_lines(devs), ""
    if "-q" in argv or "--query" in argv:
        if "-x" in argv or "--xml-format" in argv:
            return 0, xml(devs), ""
        return 0, "".join(f"GPU {d['bus_id']}\n    Product Name : {d['name']}\n"
                          f"    GPU UUID : {d['uuid']}\n" for d in devs), ""
    fields, fmt = None, None
    for i, arg in enumerate(argv):
        if arg.startswith("--query-gpu="):
            fields = arg.split("=", 1)[1]
        elif arg == "--query-gpu" and i + 1 < len(argv):
            fields = argv[i + 1]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg == "--format" and i + 1 < len(argv):
            fmt = argv[i + 1]
    if fields is not None:
        if fmt is None or not fmt.startswith("csv"):
            return 2, "", 'Option "--format" is required for "--query-gpu"\n'
        names = [f.strip() for f in fields.split(",") if f.strip()]
        try:
            return 0, query(devs, names, set(fmt.split(","))), ""
        except KeyError as exc:
            return 2, "", (f'Field "{exc.args[0]}" is not a valid field to query.\n\n')
    if argv in ([], ["-a"]) or argv[:1] == ["-i"]:
        return 0, table(devs), ""
    return 0, table(devs), ""
