"""Rendered deploy/join files: golden copies, release formats, and parse checks.

Golden files: tests/golden/<release>/<host>/, the example inventory rendered for each shipped
release that stores its upstream files, for the hosts valid under it (`UPDATE_GOLDEN=1`
rewrites them). The default release stores none (its files come from the repo cache), so the
golden files cannot be made offline for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from gonka_deploy.release.profiles import load_profile
from gonka_deploy.render import (
    dotenv_quote,
    exported,
    merge_args,
    render_host,
    render_nginx,
    sh_quote,
)
from gonka_deploy.schema import HostConfig
from gonka_deploy.validate import load_inventory, validate_hosts

from .helpers import PASSWORD, REPO, host_config

GOLDEN = REPO / "tests" / "golden"
RELEASE = "v0.2.14"  # a release that stores its upstream files: renders offline
GOLDEN_RELEASES = ("v0.2.13", "v0.2.14")
TRICKY = [
    "it's a $ecret pass \\ word",
    'dq "quoted" and `backticks` and $(cmd) and ${VAR}',
    "spaces   and  ;|&<> chars! and # hash",
    "plain-Password-0123456789",
]


def config(**changes) -> HostConfig:
    return _with_password(PASSWORD, **changes)


def prod_configs(release: str) -> tuple[dict[str, HostConfig], list]:
    os.environ["GONKA_KEYRING_PASSWORD"] = PASSWORD
    try:
        cwd = os.getcwd()
        os.chdir(REPO)
        hosts = load_inventory("inventories/prod.py")
        os.chdir(cwd)
        return validate_hosts([(n, {**d, "release": release}) for n, d in hosts])
    finally:
        del os.environ["GONKA_KEYRING_PASSWORD"]


@pytest.fixture(scope="module")
def prod_files():
    """{release: {host: files}} for the hosts of the example inventory valid under it."""
    out = {}
    for release in GOLDEN_RELEASES:
        configs, _ = prod_configs(release)
        out[release] = {name: render_host(c) for name, c in configs.items()}
    return out


def test_prod_inventory_renders_exactly_the_golden_files(prod_files):
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    for release, hosts in prod_files.items():
        assert hosts, f"no host of the example inventory is valid under {release}"
        for host, files in hosts.items():
            for name, rendered in files.items():
                path = GOLDEN / release / host / name
                if update:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(rendered.content)
                assert path.read_text() == rendered.content, \
                    f"{release}/{host}/{name} differs from golden"
        assert {p.name for p in (GOLDEN / release).iterdir()} == set(hosts)
    assert {p.name for p in GOLDEN.iterdir()} == set(GOLDEN_RELEASES)


def test_example_inventory_gives_each_host_an_mlnode_image_its_model_can_run():
    # Under the default release (what `gonka-deploy render inventories/prod.py` renders).
    from gonka_deploy.release.images import MLNodeTag

    configs, problems = prod_configs(load_profile("v0.2.16-post1").name)
    assert not problems, problems
    images = {name: [s.image for s in c.mlnode_services] for name, c in configs.items()}
    assert {name: [i.split("@")[0] for i in found] for name, found in images.items()} == {
        "gpu-fra-01": ["ghcr.io/gonka-ai/mlnode:3.0.16"],
        "gpu-ams-02": ["ghcr.io/gonka-ai/mlnode:3.0.16"],
        "gpu-waw-03": ["ghcr.io/gonka-ai/mlnode:3.1.0-vllm-0.28.0"],
    }
    for name, config in configs.items():
        (service,) = config.mlnode_services
        for node in config.mlnodes:
            need = config.catalog[node.models[0]].min_mlnode_image
            assert MLNodeTag.of_image(service.image) >= MLNodeTag.of_image(need), (name, need)


def test_the_example_inventory_under_an_older_release_names_what_it_lacks():
    configs, problems = prod_configs("v0.2.14")
    assert set(configs) == {"gpu-fra-01"}
    assert {(p.host, p.field) for p in problems} == {("gpu-ams-02", "mlnodes[0].models"),
                                                      ("gpu-waw-03", "mlnodes[0].models")}
    assert all("is not in model_catalog" in p.message for p in problems)


def test_secret_files_are_0600_and_only_they_hold_the_password(prod_files):
    for files in [f for hosts in prod_files.values() for f in hosts.values()]:
        for rendered in files.values():
            holds = PASSWORD in rendered.content
            assert holds == rendered.secret, rendered.name
            assert rendered.mode == (0o600 if rendered.secret else 0o644)


def _release_exports(text: str) -> list[str]:
    return re.findall(r"^export ([A-Z0-9_]+)=", text, flags=re.M)


@pytest.mark.parametrize("release", GOLDEN_RELEASES)
def test_config_env_keeps_every_template_line_in_place(prod_files, release):
    profile = load_profile(release)
    template = profile.stored_files()["deploy/join/config.env.template"]
    for files in prod_files[release].values():
        rendered = files["config.env"].content
        assert _release_exports(rendered) == _release_exports(template)
        # Comments and blank lines stay where they are; only the values change.
        assert [line for line in rendered.splitlines() if not line.startswith("export ")] == \
            [line for line in template.splitlines() if not line.startswith("export ")]
        values = dict(exported(rendered))
        assert values["KEY_NAME"] == "fra-01" and values["API_PORT"] == "8000"
        assert values["DAPI_CHAIN_NODE__URL"] == "http://node:26657"  # the template's value
        assert values["JAEGER_BASIC_AUTH_PASSWORD"] == ""             # its <FILLIN>, emptied
        assert ("BEACON_STATE_URL" in values) == (release == "v0.2.14")


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
    return host_config(password, **{"release": RELEASE, **changes})


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


def directives(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text)
    return [" ".join(part.split()) for part in re.split(r"[;{}]", text) if part.strip()]


def test_nginx_with_one_version_has_the_release_directives():
    release = load_profile(RELEASE).stored_files()["deploy/join/nginx.conf"]
    assert directives(render_nginx(config())) == directives(release)


def two_versions() -> HostConfig:
    return config(mlnode_versions=[
        {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.14-post2", "current": True},
        {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.16", "current": False}])


def two_images() -> HostConfig:
    """Two ML nodes whose images differ: the first on mlnode-308, the second on its own."""
    return config(gpu={"model": "H100", "count": 8, "vram_gb": 80}, mlnodes=[
        {"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]},
        {"id": "node2", "models": ["MiniMaxAI/MiniMax-M2.7"],
         "image": "ghcr.io/gonka-ai/mlnode:3.0.16"}])


def test_nginx_routes_each_version_and_root_to_the_current_one():
    text = render_nginx(two_versions())
    for port, suffix in ((8080, ""), (5000, "_port5000")):
        assert f"server mlnode-309:{port} resolve;" in text
        assert f"location /v3.0.9/ {{\n            proxy_pass http://mlnode_v309{suffix}/;" in text
        assert f"location /v3.0.8/ {{\n            proxy_pass http://mlnode_v308{suffix}/;" in text
        assert f"location / {{\n            proxy_pass http://mlnode_v308{suffix}/;" in text
    assert " resolve;" not in render_nginx(two_versions(), resolve=False)


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


# nginx -t with a private /etc/hosts needs root (a mount namespace)
@pytest.mark.needs(NGINX, "unshare", root=True)
@pytest.mark.parametrize("make", [config, two_versions, two_images],
                         ids=["one-version", "side-by-side", "two-images"])
def test_nginx_conf_passes_nginx_t(tmp_path, make):
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(make(), resolve=False))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.8 mlnode-308\n127.0.1.9 mlnode-309\n"
                     "127.0.1.10 mlnode-308-3-0-16\n")
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


def test_an_extra_image_gets_its_own_port_pair_and_keeps_the_current_segment():
    c = two_images()
    assert [(s.service, s.image, s.poc_port, s.inference_port, s.nodes)
            for s in c.mlnode_services] == [
        ("mlnode-308", "ghcr.io/gonka-ai/mlnode:3.0.14-post2", 8080, 5000, ["node1"]),
        ("mlnode-308-3-0-16", "ghcr.io/gonka-ai/mlnode:3.0.16", 8081, 5001, ["node2"])]
    nodes = {n["id"]: n for n in json.loads(render_host(c)["node-config.json"].content)}
    assert (nodes["node1"]["poc_port"], nodes["node1"]["inference_port"]) == (8080, 5000)
    assert (nodes["node2"]["poc_port"], nodes["node2"]["inference_port"]) == (8081, 5001)
    text = render_nginx(c)
    for listen, upstream in ((8081, "mlnode_mlnode_308_3_0_16"),
                             (5001, "mlnode_mlnode_308_3_0_16_port5000")):
        block = text.split(f"listen {listen};", 1)[1].split("\n    }\n", 1)[0]
        assert f"location /v3.0.8/ {{\n            proxy_pass http://{upstream}/;" in block
        assert f"location / {{\n            proxy_pass http://{upstream}/;" in block
    assert "server mlnode-308-3-0-16:8080 resolve;" in text
    assert "server mlnode-308-3-0-16:5000 resolve;" in text
    # The base pair is unchanged: the release's own nginx.conf directives come first.
    release = load_profile(RELEASE).stored_files()["deploy/join/nginx.conf"]
    assert directives(text)[:len(directives(release))] == directives(release)


def test_a_node_on_an_extra_service_with_its_own_ports_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"mlnodes\[1\].poc_port: this node runs on "
                                              r"mlnode-308-3-0-16"):
        config(gpu={"model": "H100", "count": 8, "vram_gb": 80}, mlnodes=[
            {"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]},
            {"id": "node2", "models": ["MiniMaxAI/MiniMax-M2.7"], "poc_port": 8080,
             "image": "ghcr.io/gonka-ai/mlnode:3.0.16"}])


def test_several_images_and_a_side_by_side_upgrade_are_refused_together():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="side-by-side version upgrade"):
        config(gpu={"model": "H100", "count": 8, "vram_gb": 80},
               mlnode_versions=[
                   {"version": "v3.0.8", "image": "ghcr.io/gonka-ai/mlnode:3.0.14-post2",
                    "current": True},
                   {"version": "v3.0.9", "image": "ghcr.io/gonka-ai/mlnode:3.0.16"}],
               mlnodes=[{"id": "node1", "models": ["MiniMaxAI/MiniMax-M2.7"]},
                        {"id": "node2", "models": ["MiniMaxAI/MiniMax-M2.7"],
                         "image": "ghcr.io/gonka-ai/mlnode:3.0.16"}])


YAML_VALUES = ["/mnt/ssd", "127.0.0.1:9090", "a: b", "x # y", "line\nbreak", "- item", "*ref",
               "'quoted'", '"dq"', "yes", "null", "123", "", "tab\there", "{a}", "%x"]


def test_the_yaml_filter_writes_each_value_back_as_the_same_string():
    import yaml

    from gonka_deploy.render import ENV, yaml_scalar

    assert yaml_scalar("/mnt/ssd") == "/mnt/ssd"  # safe values stay bare (goldens unchanged)
    template = ENV.from_string("volumes:\n  - {{ v | yaml }}\nk: {{ v | yaml }}\n")
    for value in YAML_VALUES:
        text = template.render(v=value)
        assert yaml.safe_load(text) == {"volumes": [value], "k": value}, text


def test_an_override_comment_with_a_control_character_is_refused():
    from gonka_deploy.topology import TopologyError, _dump

    config = host_config(release=RELEASE)
    bad = config.model_copy(update={"gonka_ref": "main\nservices: {evil: {}}"})
    with pytest.raises(TopologyError, match="refusing a comment with a control character"):
        _dump(bad, load_profile(RELEASE), {"api": {"image": "a:1"}}, {})
    assert "services:\n  api:\n    image: a:1\n" in _dump(config, load_profile(RELEASE),
                                                        {"api": {"image": "a:1"}}, {})
