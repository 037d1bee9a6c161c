"""nvidia-smi, nvidia-ctk and the fake torch, driven by gonkasim settings."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from gonkasim import testing

SMI = os.path.join(testing.SHIMS, "nvidia-smi")
CTK = os.path.join(testing.SHIMS, "nvidia-ctk")
FAKE_SITE = os.path.join(testing.SANDBOX, "gonkasim", "fake_site")


@pytest.fixture
def host(tmp_path):
    path = tmp_path / "sim.json"

    def run(settings: dict, tool: str, *args: str):
        path.write_text(json.dumps(settings))
        env = testing.sim_env({"GONKASIM_SETTINGS": str(path)})
        return subprocess.run([sys.executable, tool, *args], capture_output=True, text=True,
                              env=env, timeout=30)

    return run


EIGHT_H200 = {"gpu": {"model": "H200", "count": 8}}


def test_table_matches_the_real_capture_on_the_default_host(host, reference):
    r = host({}, SMI)
    assert r.returncode == 0
    with open(reference("gpu", "nvidia-smi.txt")) as f:
        ref = f.read().splitlines()
    assert r.stdout.splitlines()[1:] == ref[1:]  # all but the timestamp line


def test_list_gpus_prints_one_line_per_gpu(host):
    r = host(EIGHT_H200, SMI, "-L")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 8
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"GPU {i}: NVIDIA H200 \(UUID: GPU-[0-9a-f-]{{36}}\)", line)
    assert len({line.split("UUID: ")[1] for line in lines}) == 8


def test_query_gpu_csv_modes_parse(host, reference):
    fields = "index,uuid,name,memory.total,memory.used,driver_version,compute_cap"
    r = host(EIGHT_H200, SMI, f"--query-gpu={fields}", "--format=csv,noheader,nounits")
    rows = list(csv.reader(io.StringIO(r.stdout), skipinitialspace=True))
    assert r.returncode == 0 and len(rows) == 8
    assert [int(row[0]) for row in rows] == list(range(8))
    assert all(row[2] == "NVIDIA H200" and int(row[3]) == 143771 for row in rows)
    r = host({}, SMI, "--query-gpu=name,memory.total", "--format=csv")
    header, row = list(csv.reader(io.StringIO(r.stdout), skipinitialspace=True))
    assert header == ["name", "memory.total [MiB]"]
    assert row == ["NVIDIA H100 80GB HBM3", "81559 MiB"]
    got = host({}, SMI, f"--query-gpu={fields}", "--format=csv,noheader,nounits").stdout
    with open(reference("gpu", "nvidia-smi-query.csv")) as f:
        want = f.read().strip().split(", ")
    assert [got.strip().split(", ")[i] for i in (0, 2, 3, 4, 5, 6)] == \
        [want[i] for i in (0, 2, 3, 4, 5, 6)]
    bad = host({}, SMI, "--query-gpu=bogus.field", "--format=csv")
    assert bad.returncode == 2 and "bogus.field" in bad.stdout + bad.stderr


def test_xml_query_parses_with_n_gpus(host):
    r = host({"gpu": {"model": "A100", "count": 4, "vram_gb": 40}}, SMI, "-q", "-x")
    root = ET.fromstring(r.stdout.split("\n", 2)[2])  # skip the XML and DOCTYPE lines
    assert root.findtext("attached_gpus") == "4"
    gpus = root.findall("gpu")
    assert len(gpus) == 4
    assert gpus[0].findtext("product_name") == "NVIDIA A100-SXM4-80GB"
    assert gpus[0].findtext("fb_memory_usage/total") == "40960 MiB"
    assert root.findtext("driver_version") == "580.159.04"


def test_fail_mode_reports_driver_error_with_rc_9(host):
    r = host({"nvidia_smi_fail": True}, SMI, "-L")
    assert r.returncode == 9
    assert r.stdout.startswith("NVIDIA-SMI has failed because it couldn't communicate with the "
                               "NVIDIA driver")


def test_nvidia_ctk_reports_a_version(host):
    r = host({}, CTK, "--version")
    assert r.returncode == 0 and r.stdout.startswith("NVIDIA Container Toolkit CLI version ")


TORCH_PROBE = ("import json, torch; print(json.dumps({'torch': torch.__version__, "
               "'cuda_available': torch.cuda.is_available(), "
               "'device_count': torch.cuda.device_count(), "
               "'name': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "
               "'cuda': torch.version.cuda}))")


def run_torch(tmp_path, settings):
    path = tmp_path / "torch-sim.json"
    path.write_text(json.dumps(settings))
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": FAKE_SITE,
           "GONKASIM_SETTINGS": str(path)}
    r = subprocess.run([sys.executable, "-c", TORCH_PROBE], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_fake_torch_matches_reference_and_follows_settings(tmp_path, reference):
    got = run_torch(tmp_path, {})
    with open(reference("gpu", "torch-cuda.json")) as f:
        assert got == json.load(f)
    assert run_torch(tmp_path, EIGHT_H200)["device_count"] == 8
    failed = run_torch(tmp_path, {"nvidia_smi_fail": True})
    assert failed["cuda_available"] is False and failed["device_count"] == 0
