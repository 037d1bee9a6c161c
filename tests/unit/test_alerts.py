"""Alert rules and Alertmanager config as rendered per host: Debian 12's own `promtool check
rules` (Prometheus 2.42, the older of the two this must load on: the stack runs 2.53) and
`amtool check-config` (Alertmanager 0.25); the Telegram bot token only in the 0600 file, never
in data, and masked when the host sends the file back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from gonka_deploy.facts.files import STAT_SCRIPT, masked
from gonka_deploy.render import render_monitoring
from gonka_deploy.validate import validate_host
from tests.conftest import unavailable
from tests.unit.helpers import host_config, merged

TOKEN = "7012345678:AAH-unit-test-bot-token-secret_x"
CACHE = Path(os.environ.get("GONKA_CACHE_DIR", Path.home() / ".cache" / "gonka-deploy"))


def debian_tool(package: str, program: str) -> str:
    """`program` from PATH, else from Debian's `package` that scripts/debian-deps.sh unpacked
    into the cache (the test itself fetches nothing)."""
    found = shutil.which(program)
    if found:
        return found
    path = CACHE / "debian-tools" / package / "usr" / "bin" / program
    if not path.exists():
        unavailable(f"{program} (Debian's {package}) not unpacked: run scripts/debian-deps.sh")
    return str(path)


def config(**alerting):
    return host_config(alerting={"webhook_urls": ["http://10.9.0.1:9999/alerts"], **alerting})


def write(tmp_path: Path, cfg) -> dict[str, Path]:
    out = {}
    for name, f in render_monitoring(cfg, "node-id-1").items():
        out[name] = tmp_path / name
        out[name].write_text(f.content)
    return out


def test_rules_pass_promtool(tmp_path):
    promtool = debian_tool("prometheus", "promtool")
    files = write(tmp_path, config())
    p = subprocess.run([promtool, "check", "rules", "--lint-fatal", str(files["rules.yml"])],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 8 rules found" in p.stdout
    # the whole Prometheus config (rule file path as mounted in the container) checks too
    text = files["prometheus.yml"].read_text().replace("/etc/prometheus/rules.yml",
                                                       str(files["rules.yml"]))
    files["prometheus.yml"].write_text(text)
    p = subprocess.run([promtool, "check", "config", str(files["prometheus.yml"])],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_thresholds_are_group_data(tmp_path):
    cfg = host_config(health={"max_block_age_s": 30, "alert_for": "10s", "min_free_gb": 1.5})
    rules = render_monitoring(cfg, "n")["rules.yml"].content
    assert "gonka_chain_block_age_seconds > 30" in rules
    assert "changes(cometbft_consensus_latest_block_height[30s]) == 0" in rules
    assert "gonka_data_free_bytes < 1500000000" in rules
    assert "for: 10s" in rules and "gonka_gpus_seen < 4" in rules


def test_alertmanager_config_passes_amtool_with_telegram_and_webhook(tmp_path):
    amtool = debian_tool("prometheus-alertmanager", "amtool")
    cfg = config(telegram={"chat_id": -1001234567890, "bot_token": SecretStr(TOKEN)})
    rendered = render_monitoring(cfg, "node-id-1")["alertmanager.yml"]
    assert rendered.secret and rendered.mode == 0o600
    path = tmp_path / "alertmanager.yml"
    path.write_text(rendered.content)
    p = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout and "telegram" not in p.stderr
    # webhook only: no secret, a plain file
    plain = render_monitoring(config(), "node-id-1")["alertmanager.yml"]
    assert not plain.secret and plain.mode == 0o644 and "telegram" not in plain.content


def test_token_is_masked_on_the_host_as_here(tmp_path):
    cfg = config(telegram={"chat_id": -5, "bot_token": SecretStr(TOKEN)})
    text = render_monitoring(cfg, "n")["alertmanager.yml"].content
    assert TOKEN in text
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    p = subprocess.run(["sh", "-c", STAT_SCRIPT, "_", str(path), "bot_token"],
                       capture_output=True, text=True, check=True)
    import base64

    on_host = base64.b64decode(p.stdout.splitlines()[2]).decode()
    assert TOKEN not in on_host and "bot_token: *****" in on_host
    assert on_host == masked(text, ["bot_token"])


def test_token_comes_from_env_or_secrets_never_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GONKA_SECRETS_DIR", str(tmp_path))
    data = merged(alerting={"telegram": {"chat_id": -5}})
    env = {"GONKA_KEYRING_PASSWORD": "unit-test-Keyring-Pass-0123"}
    cfg, problems = validate_host("h", data, env)
    assert cfg is None and [p.field for p in problems] == ["alerting.telegram.bot_token"]
    assert "GONKA_TELEGRAM_BOT_TOKEN" in problems[0].message
    cfg, problems = validate_host("h", data, {**env, "GONKA_TELEGRAM_BOT_TOKEN": TOKEN})
    assert problems == [] and cfg.alerting.telegram.bot_token.get_secret_value() == TOKEN
    (tmp_path / "unit-01.env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\n")
    (tmp_path / "unit-01.env").chmod(0o600)
    cfg, problems = validate_host("h", data, env)
    assert problems == [] and cfg.alerting.telegram.bot_token.get_secret_value() == TOKEN
    bad = merged(alerting={"telegram": {"chat_id": -5, "bot_token": TOKEN}})
    cfg, problems = validate_host("h", bad, env)
    assert cfg is None and "must not be set in inventory" in problems[0].message
    assert all(TOKEN not in str(p) for p in problems)


@pytest.mark.parametrize("enabled", [True, False])
def test_alerting_off_renders_no_alert_files(enabled):
    files = render_monitoring(host_config(alerting={"enabled": enabled}), "n")
    assert ("rules.yml" in files) is enabled and ("alertmanager.yml" in files) is enabled
    assert ("gonka-exporter" in files["docker-compose.yml"].content) is enabled


# --- the gonka exporter's container: least privilege (issue 20) ------------------------------

def exporter_service(cfg) -> dict:
    import yaml

    compose = yaml.safe_load(render_monitoring(cfg, "n")["docker-compose.yml"].content)
    return compose["services"]["gonka-exporter"]


def test_exporter_image_is_pinned_by_digest_as_the_official_images_recorded_it():
    from gonka_deploy.schema import EXPORTER_IMAGE

    svc = exporter_service(host_config())
    assert svc["image"] == EXPORTER_IMAGE
    name, _, digest = svc["image"].partition("@")
    assert name == "python:3.12-slim-bookworm" and len(digest) == len("sha256:") + 64


def test_exporter_runs_unprivileged_on_a_read_only_root():
    svc = exporter_service(host_config())
    user = str(svc["user"])
    assert user.split(":")[0] not in ("", "0", "root") and user == "65534:65534"
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"] and "cap_add" not in svc
    assert "no-new-privileges:true" in svc["security_opt"]
    assert not svc.get("privileged") and "pid" not in svc
    # no secret in its environment (only what keeps it off the read-only root)
    assert svc.get("environment") == {"PYTHONDONTWRITEBYTECODE": "1"}


def test_exporter_mounts_only_its_program_and_an_empty_statvfs_directory_read_only():
    cfg = host_config()
    svc = exporter_service(cfg)
    mounts = [(v["type"], v["source"], v["target"], v.get("read_only")) for v in svc["volumes"]]
    assert mounts == [("bind", "./status_probe.py", "/exporter/status_probe.py", True),
                      ("bind", "./exporter-statvfs", cfg.data_mount, True)]
    # ./ is the monitoring project on the data filesystem: the statvfs directory is of it; the
    # data (config.env, .tmkms, keyring, worker key, alertmanager.yml) is never mounted
    for _type, source, _target, _ro in mounts:
        assert source.startswith("./") and ".." not in source
        assert source not in ("./", "./alertmanager.yml") and "docker.sock" not in source
    # statvfs reads the data mount's path, where that directory is mounted
    args = json.loads(svc["command"][-1])
    assert args["data_mount"] == cfg.data_mount


def test_exporter_image_by_tag_only_is_refused_naming_the_field():
    data = merged(alerting={"exporter_image": "python:3.12-slim-bookworm"})
    env = {"GONKA_KEYRING_PASSWORD": "unit-test-Keyring-Pass-0123"}
    cfg, problems = validate_host("h", data, env)
    assert cfg is None and [p.field for p in problems] == ["alerting.exporter_image"]
    assert "pin the image by digest" in problems[0].message


def test_the_sandbox_re_pins_the_exporter_to_its_stand_in_digest():
    """The sandbox registry serves the schema's name:tag under the stand-in's own digest; its
    group data pins that one, so a sandbox pull by digest is real (sandbox/images/README.md)."""
    from sandbox.bench.inventory import group_data, standin_exporter
    from sandbox.images.catalog import referenced

    assert "python:3.12-slim-bookworm" in referenced()      # the registry serves the name:tag
    digest = "sha256:" + "ab" * 32
    alerting = standin_exporter({"python:3.12-slim-bookworm": digest})
    assert alerting == {"exporter_image": f"python:3.12-slim-bookworm@{digest}"}
    assert standin_exporter({}) is None
    assert group_data("10.0.0.1", None, "m", None, alerting=alerting)["alerting"] == alerting
    assert exporter_service(host_config(alerting=alerting))["image"] == alerting["exporter_image"]
