"""Rendered deploy/join files: golden copies, release formats, and parse checks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gonka_deploy.render import dotenv_quote, merge_args, render_host, render_nginx, sh_quote
from gonka_deploy.schema import HostConfig
from gonka_deploy.validate import load_inventory, validate_hosts
from tests.conftest import SHARED, shared_path

from .helpers import PASSWORD, REPO, merged

GOLDEN = REPO / "tests" / "golden"
REFERENCE = SHARED / "reference" / "gonka"  # checked by the tests that read it (shared_path)
RELEASE = "main-2026-06-19"
TRICKY = [
    "it's a $ecret pass \\ word",
    'dq "quoted" and `backticks` and $(cmd) and ${VAR}',
    "spaces   and  ;|&<> chars! and # hash",
    "plain-Password-0123456789",
]


def config(**changes) -> HostConfig:
    return _with_password(PASSWORD, **changes)


@pytest.fixture(scope="module")
def prod_files(tmp_path_factory):
    os.environ["GONKA_KEYRING_PASSWORD"] = PASSWORD
    try:
        cwd = os.getcwd()
        os.chdir(REPO)
        hosts = load_inventory("inventories/prod.py")
        os.chdir(cwd)
        configs, problems = validate_hosts(hosts)
    finally:
        del os.environ["GONKA_KEYRING_PASSWORD"]
    assert not problems, problems
    return {name: render_host(c) for name, c in configs.items()}


def test_prod_inventory_renders_exactly_the_golden_files(prod_files):
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    for host, files in prod_files.items():
        for name, rendered in files.items():
            path = GOLDEN / host / name
            if update:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(rendered.content)
            assert path.read_text() == rendered.content, f"{host}/{name} differs from golden"
    assert {p.parent.name for p in GOLDEN.glob("*/*")} == set(prod_files)


def test_secret_files_are_0600_and_only_they_hold_the_password(prod_files):
    for files in prod_files.values():
        for rendered in files.values():
            holds = PASSWORD in rendered.content
            assert holds == rendered.secret, rendered.name
            assert rendered.mode == (0o600 if rendered.secret else 0o644)


def _release_exports(text: str) -> list[str]:
    return re.findall(r"^export ([A-Z0-9_]+)=", text, flags=re.M)


def test_config_env_has_every_release_variable_in_order(prod_files):
    template = shared_path("reference", "gonka", f"{RELEASE}-config.env.template").read_text()
    for files in prod_files.values():
        assert _release_exports(files["config.env"].content) == _release_exports(template)
        # The commented optional lines of the template are kept too.
        for line in template.splitlines():
            if line.startswith("#"):
                assert line in files["config.env"].content


@pytest.mark.parametrize("password", TRICKY)
def test_sourcing_config_env_gives_back_every_value_exactly(tmp_path, password):
    files = render_host(_with_password(password))
    path = tmp_path / "config.env"
    path.write_text(files["config.env"].content)
    out = subprocess.run(
        ["bash", "-c", 'set -e; source "$1"; printf "%s\\0" "$KEYRING_PASSWORD" "$PUBLIC_URL"',
         "_", str(path)], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.split("\0")[:2] == [password, "http://203.0.113.10:8000"]


def _with_password(password: str, **changes) -> HostConfig:
    data = {k: v for k, v in merged(**changes).items() if k in HostConfig.model_fields}
    data["keyring_password"] = password
    return HostConfig.model_validate(data)


@pytest.mark.parametrize("password", TRICKY)
def test_dotenv_values_match_config_env(password):
    files = render_host(_with_password(password))
    lines = files[".env"].content.splitlines()
    assert lines[1] == ("COMPOSE_FILE=docker-compose.yml:docker-compose.mlnode.yml:"
                        "docker-compose.override.yml")
    assert f"KEYRING_PASSWORD={dotenv_quote(password)}" in lines
    assert not any(line.startswith("export ") for line in lines)
    exported = _release_exports(files["config.env"].content)
    assert [line.split("=", 1)[0] for line in lines[2:]] == exported


def test_shell_quoting_keeps_plain_values_bare_like_the_release():
    assert sh_quote("http://node2.gonka.ai:8000/chain-rpc/") == "http://node2.gonka.ai:8000/chain-rpc/"
    assert sh_quote("A4pY+5zV/7Iw=") == "A4pY+5zV/7Iw="
    assert sh_quote("a b") == "'a b'"
    assert sh_quote("") == "''"


def test_node_config_merges_governance_preset_and_host_args_host_winning():
    c = config(gpu={"model": "H100", "count": 4, "vram_gb": 80},
               mlnodes=[{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"],
                         "args": ["--max-model-len", "100000", "--enforce-eager"]}])
    nodes = json.loads(render_host(c)["node-config.json"].content)
    args = nodes[0]["models"]["MiniMaxAI/MiniMax-M2.7"]["args"]
    assert args[:3] == ["--enable-auto-tool-choice", "--max-model-len", "100000"]
    assert args.count("--max-model-len") == 1
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    assert args[-1] == "--enforce-eager"
    assert {k: nodes[0][k] for k in ("id", "host", "inference_port", "poc_port",
                                     "max_concurrent")} == {
        "id": "node1", "host": "inference", "inference_port": 5000, "poc_port": 8080,
        "max_concurrent": 500}


def test_merge_args_host_wins_in_place_and_handles_equals_form():
    assert merge_args(["--a", "1", "--b"], ["--a=2", "--c", "x"]) == ["--a=2", "--b", "--c", "x"]
    assert merge_args(["--tp", "4"], [], ["--tp", "8"]) == ["--tp", "8"]
    assert merge_args(["--scale", "-1"], ["--x"]) == ["--scale", "-1", "--x"]


def test_nginx_with_one_version_has_the_release_directives():
    def directives(text: str) -> list[str]:
        text = re.sub(r"#[^\n]*", "", text)
        return [" ".join(part.split()) for part in re.split(r"[;{}]", text) if part.strip()]

    release = shared_path("reference", "gonka", f"{RELEASE}-nginx.conf").read_text()
    assert directives(render_nginx(config())) == directives(release)


def two_versions() -> HostConfig:
    return config(mlnode_versions=[
        {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.13", "current": True},
        {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.14", "current": False}])


def test_nginx_routes_each_version_and_root_to_the_current_one():
    text = render_nginx(two_versions())
    for port, suffix in ((8080, ""), (5000, "_port5000")):
        assert f"server mlnode-309:{port} resolve;" in text
        assert f"location /v3.0.9/ {{\n            proxy_pass http://mlnode_v309{suffix}/;" in text
        assert f"location /v3.0.8/ {{\n            proxy_pass http://mlnode_v308{suffix}/;" in text
        assert f"location / {{\n            proxy_pass http://mlnode_v308{suffix}/;" in text
    assert " resolve;" not in render_nginx(two_versions(), resolve=False)


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx not installed (apt-get install nginx)")
@pytest.mark.skipif(os.geteuid() != 0, reason="nginx -t with a private /etc/hosts needs root")
@pytest.mark.parametrize("make", [config, two_versions], ids=["one-version", "side-by-side"])
def test_nginx_conf_passes_nginx_t(tmp_path, make):
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(make(), resolve=False))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.8 mlnode-308\n127.0.1.9 mlnode-309\n")
    # Upstream names must resolve when nginx tests its config (no `resolve` on 1.22): give
    # them in a private /etc/hosts, bind-mounted in a mount namespace of this command only.
    script = (f'mount --bind {hosts} /etc/hosts && exec {NGINX} -t -q -c {conf} '
              f'-e {tmp_path}/error.log -g "pid {tmp_path}/nginx.pid;"')
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    broken = tmp_path / "broken.conf"
    broken.write_text(conf.read_text().replace("listen 8080;", "listen 8080"))
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script.replace(str(conf), str(broken))], capture_output=True, text=True)
    assert proc.returncode != 0
