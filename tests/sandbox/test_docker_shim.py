"""The sandbox docker shim: compose model (no root) and containers in a private namespace (root).

Container tests run the shim inside `unshare --mount --net --pid --fork --mount-proc` with a
temp file bound over /etc/hosts, a tmpfs on /run/netns and DOCKERSIM_ROOT in a temp dir, so
the machine's real /etc/hosts, network and netns list are never touched; every process dies
with the namespace's PID 1 at the end of each script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from gonkarepo import files as repo_files
from gonkasim.docker import cli, engine, images
from gonkasim.docker.compose import ComposeError, interpolate, load_project

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


# ---------------------------------------------------------------- compose model (unit)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def gonka_join(tmp_path: Path) -> Path:
    """deploy/join of the stand-in repo, as plain files."""
    for rel, text in repo_files.files().items():
        write(tmp_path / rel, text)
    return tmp_path / "deploy" / "join"


def merged_ports(project, service: str) -> list[str]:
    return [f"{p['host_ip'] + ':' if p['host_ip'] else ''}{p['published']}:{p['target']}"
            for p in project.services[service].ports]


def test_override_tag_replaces_base_ports(gonka_join: Path):
    write(gonka_join / "override.yml", """\
        services:
          api:
            ports: !override
              - "127.0.0.1:9100:9100"
              - "127.0.0.1:9200:9200"
        """)
    p = load_project(["docker-compose.yml", "override.yml"], project_dir=str(gonka_join),
                     environ={})
    assert merged_ports(p, "api") == ["127.0.0.1:9100:9100", "127.0.0.1:9200:9200"]


def test_plain_override_appends_ports_like_compose(gonka_join: Path):
    write(gonka_join / "override.yml", """\
        services:
          api:
            ports: ["127.0.0.1:9100:9100"]
        """)
    p = load_project(["docker-compose.yml", "override.yml"], project_dir=str(gonka_join),
                     environ={})
    assert merged_ports(p, "api") == ["9100:9100", "127.0.0.1:9200:9200", "127.0.0.1:9100:9100"]


def test_reset_tag_clears_ports(gonka_join: Path):
    write(gonka_join / "override.yml", """\
        services:
          node:
            ports: !reset []
        """)
    p = load_project(["docker-compose.yml", "override.yml"], project_dir=str(gonka_join),
                     environ={})
    assert "ports" not in p.services["node"].raw
    assert p.services["node"].ports == []


def test_environment_merges_by_key_across_list_and_map(tmp_path: Path):
    write(tmp_path / "a.yml", """\
        services:
          s: {image: debian:12, environment: ["A=1", "B=2"]}
        """)
    write(tmp_path / "b.yml", """\
        services:
          s: {environment: {B: "3", C: "4"}}
        """)
    p = load_project(["a.yml", "b.yml"], project_dir=str(tmp_path), environ={})
    assert p.services["s"].environment == {"A": "1", "B": "3", "C": "4"}


def test_volumes_override_by_container_path(tmp_path: Path):
    write(tmp_path / "a.yml", "services:\n  s: {image: x, volumes: ['./a:/data', './c:/c']}\n")
    write(tmp_path / "b.yml", "services:\n  s: {volumes: ['./b:/data']}\n")
    p = load_project(["a.yml", "b.yml"], project_dir=str(tmp_path), environ={})
    assert [(Path(v["source"]).name, v["target"]) for v in p.services["s"].volumes] == [
        ("c", "/c"), ("b", "/data")]


@pytest.mark.parametrize(("text", "env", "want"), [
    ("${A}", {"A": "x"}, "x"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A-d}", {}, "d"),
    ("${A:+set}", {"A": "1"}, "set"),
    ("$$HOME and $A", {"A": "y"}, "$HOME and y"),
    ("${HF_HOME:-${HOME}/.cache}:/root/.cache", {"HOME": "/home/u"}, "/home/u/.cache:/root/.cache"),
    ("${PORT:-8080}:8080", {}, "8080:8080"),
])
def test_interpolation_forms(text, env, want):
    assert interpolate(text, env) == want


def test_required_variable_error_names_it():
    with pytest.raises(ComposeError, match="KEY_NAME"):
        interpolate("${KEY_NAME:?set KEY_NAME first}", {"KEY_NAME": ""})


def test_shell_environment_beats_dotenv(tmp_path: Path):
    write(tmp_path / "docker-compose.yml", """\
        services:
          s: {image: debian:12, ports: ["${P:-1}:80"], environment: ["Q=${Q}"]}
        """)
    write(tmp_path / ".env", "P=2\nQ=from-dotenv\n")
    p = load_project([], project_dir=str(tmp_path), environ={"P": "3"})
    assert merged_ports(p, "s") == ["3:80"]
    assert p.services["s"].environment["Q"] == "from-dotenv"


def test_compose_file_variable_selects_files(tmp_path: Path):
    write(tmp_path / "one.yml", "services:\n  a: {image: debian:12}\n")
    write(tmp_path / "two.yml", "services:\n  b: {image: debian:12}\n")
    p = load_project([], project_dir=str(tmp_path), environ={"COMPOSE_FILE": "one.yml:two.yml"})
    assert sorted(p.services) == ["a", "b"]
    assert p.name == tmp_path.name.lower()


def test_profiles_gate_services(gonka_join: Path):
    p = load_project(["docker-compose.yml"], project_dir=str(gonka_join), environ={})
    assert "proxy-ssl" not in p.enabled()
    assert "proxy-ssl" in p.enabled(["proxy-ssl"])  # a named service is always active
    p = load_project(["docker-compose.yml"], project_dir=str(gonka_join), environ={},
                     profiles=["ssl"])
    assert "proxy-ssl" in p.enabled()
    assert p.ordered(p.enabled()).index("proxy-ssl") < p.ordered(p.enabled()).index("proxy")


def test_depends_on_orders_the_gonka_stack(gonka_join: Path):
    p = load_project(["docker-compose.yml", "docker-compose.mlnode.yml"],
                     project_dir=str(gonka_join), environ={})
    order = p.ordered(p.enabled())
    assert order.index("tmkms") < order.index("node") < order.index("api") < order.index("proxy")
    assert "proxy-ssl" not in order
    assert p.ordered(["api"], with_deps=False) == ["api"]
    assert p.ordered(["api"]) == ["tmkms", "node", "api"]


def test_config_hash_stable_and_sensitive(tmp_path: Path):
    write(tmp_path / "a.yml", "services:\n  s: {image: debian:12, environment: [A=1], "
                              "command: [sleep, '1']}\n")
    write(tmp_path / "b.yml", "services:\n  s: {command: [sleep, '1'], environment: [A=1], "
                              "image: debian:12}\n")
    h = [load_project([f], project_dir=str(tmp_path), environ={}).services["s"].config_hash()
         for f in ("a.yml", "b.yml")]
    assert h[0] == h[1]
    env = dict(os.environ, PYTHONPATH=str(SANDBOX), PYTHONHASHSEED="random")
    runs = {subprocess.run([sys.executable, "-m", "gonkasim.docker", "compose", "-f", "a.yml",
                            "config", "--hash", "s"], cwd=tmp_path, env=env, text=True,
                           capture_output=True, check=True).stdout for _ in range(2)}
    assert runs == {f"s {h[0]}\n"}
    write(tmp_path / "c.yml", "services:\n  s: {environment: [A=2]}\n")
    changed = load_project(["a.yml", "c.yml"], project_dir=str(tmp_path), environ={})
    assert changed.services["s"].config_hash() != h[0]


def test_config_command_prints_merged_long_ports(gonka_join: Path, capsys, monkeypatch,
                                                 tmp_path: Path):
    monkeypatch.setenv("GONKASIM_LOG_DIR", str(tmp_path / "log"))
    monkeypatch.chdir(gonka_join)
    write(gonka_join / "override.yml", "services:\n  api:\n    ports: !override "
                                       "['127.0.0.1:9100:9100']\n")
    rc = cli.main(["compose", "-f", "docker-compose.yml", "-f", "override.yml", "config",
                   "--format", "json"])
    assert rc == 0
    model = json.loads(capsys.readouterr().out)
    assert model["services"]["api"]["ports"] == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 9100, "published": "9100",
         "protocol": "tcp"}]
    assert model["name"] == "join"
    logged = [json.loads(line) for line in (tmp_path / "log" / "docker.log").read_text()
              .splitlines()]
    assert logged[-1]["argv"][:3] == ["docker", "compose", "-f"]
    assert logged[-1]["cwd"] == str(gonka_join)


@pytest.mark.parametrize(("ref", "role"), [
    ("ghcr.io/product-science/inferenced:0.2.13", "node"),
    ("ghcr.io/product-science/api:0.2.13", "api"),
    ("ghcr.io/gonka-ai/mlnode:3.0.13", "mlnode"),
    ("ghcr.io/product-science/mlnode:3.0.12-post6-blackwell", "mlnode"),
    ("ghcr.io/product-science/bridge:0.2.5-post5@sha256:8d2f", "idle"),
    ("ghcr.io/product-science/proxy-ssl:0.2.13", "idle"),
    ("nginx:1.28.0", "nginx"),
    ("prom/node-exporter:v1.8.2", "node-exporter"),
])
def test_images_map_to_roles(ref, role):
    assert images.resolve(ref).role == role


def test_unknown_image_is_not_pullable():
    assert images.resolve("example.com/nope:1") is None
    assert "pull access denied for example.com/nope" in images.pull_denied("example.com/nope:1")


def test_strip_resolve_touches_only_the_resolve_token():
    conf = repo_files.nginx_conf()
    out = engine.strip_resolve(conf)
    assert "resolve;" not in out and "server mlnode-308:8080;" in out
    assert "resolver 127.0.0.11 valid=10s;" in out and "resolver_timeout 5s;" in out
    assert out.replace("server mlnode-308:8080;", "server mlnode-308:8080 resolve;").replace(
        "server mlnode-308:5000;", "server mlnode-308:5000 resolve;") == conf


def test_hosts_block_replaced_other_lines_kept(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DOCKERSIM_ROOT", str(tmp_path / "root"))
    hosts = write(tmp_path / "hosts", "127.0.0.1\tlocalhost\n10.0.0.9 other\n")
    monkeypatch.setenv("DOCKERSIM_HOSTS_FILE", str(hosts))
    for idx, (svc, name) in enumerate([("node", "node"), ("inference", "p-inference-1")], 2):
        c = engine.Container("p", name, {"service": svc, "idx": idx, "hostname": svc})
        c.save()
    engine.write_hosts()
    engine.write_hosts()
    text = hosts.read_text()
    assert text.count(engine.HOSTS_BEGIN) == 1
    assert "169.254.250.2\tnode\n" in text and "169.254.250.3\tinference p-inference-1" in text
    assert text.startswith("127.0.0.1\tlocalhost\n10.0.0.9 other\n")
    shutil.rmtree(tmp_path / "root" / "p")
    engine.write_hosts()
    assert hosts.read_text() == "127.0.0.1\tlocalhost\n10.0.0.9 other\n"


# ---------------------------------------------------------------- containers (root, namespaces)


def _ns_missing() -> str | None:
    if os.geteuid() != 0:
        return "container tests need root (network and mount namespaces)"
    for tool in ("unshare", "nsenter", "ip", "mount"):
        if not shutil.which(tool):
            return f"container tests need `{tool}`"
    probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
                            "ip", "link", "add", "dsimprobe", "type", "bridge"],
                           capture_output=True, text=True)
    if probe.returncode:
        return f"cannot create namespaces/bridges here: {probe.stderr.strip()}"
    return None


NS_SETUP = """\
set -u
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
cp /etc/hosts "$T/hosts" && mount --bind "$T/hosts" /etc/hosts
mount -t tmpfs tmpfs /mnt
ip link set lo up
export DOCKERSIM_ROOT="$T/root" GONKASIM_LOG_DIR="$T/log" PYTHONPATH="$SANDBOX"
D="$PY -m gonkasim.docker"
cd "$T/proj"
wait_http() {  # wait_http URL: poll until it answers (bounded)
  $PY - "$1" <<'EOF'
import sys, time, urllib.request
deadline = time.monotonic() + 15
while True:
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end="")
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("no answer from " + sys.argv[1])
        time.sleep(0.05)
EOF
}
"""

COMPOSE = """\
services:
  web:
    image: debian:bookworm
    command: ["python3", "-m", "http.server", "8000", "--directory", "/mnt/www"]
    environment: ["TAG=${WEB_TAG:-one}"]
    volumes: ["./data:/mnt/www:ro"]
    ports: ["127.0.0.1:18080:8000", "18081:8000"]
  client:
    image: debian:bookworm
    container_name: client
    command: ["sleep", "120"]
    depends_on: [web]
"""


@pytest.fixture
def ns(tmp_path: Path):
    """ns(script) runs bash in fresh namespaces with the shim set up; returns the result."""
    why = _ns_missing()
    if why:
        pytest.skip(why)
    write(tmp_path / "proj" / "docker-compose.yml", COMPOSE)
    write(tmp_path / "proj" / "data" / "f.txt", "hello from the bind mount\n")

    def run(script: str, timeout: float = 90) -> subprocess.CompletedProcess:
        env = dict(os.environ, T=str(tmp_path), SANDBOX=str(SANDBOX), PY=sys.executable)
        p = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
                            "bash", "-c", NS_SETUP + textwrap.dedent(script)],
                           env=env, text=True, capture_output=True, timeout=timeout)
        p.output = p.stdout + p.stderr
        return p

    return run


def lines_after(output: str, marker: str) -> list[str]:
    return output.split(marker, 1)[1].split("\n==", 1)[0].strip().splitlines()


def test_up_ps_down_two_services(ns):
    r = ns("""\
        $D compose up -d; echo "up rc=$?"
        echo "== ps"; $D compose ps --format json
        echo "== hosts"; cat /etc/hosts
        echo "== by name"; $D compose exec -T client $PY -c \
          'import urllib.request as u; print(u.urlopen("http://web:8000/f.txt").read().decode())'
        $D compose down; echo "down rc=$?"
        echo "== after"; $D compose ps -a; cat /etc/hosts; ip -br link
        echo "== procs"; pgrep -f '^(python3 -m http.server|sleep 120)' || echo none
        """)
    assert "up rc=0" in r.output and "down rc=0" in r.output, r.output
    assert r.output.index("Container proj-web-1  Started") < r.output.index(
        "Container client  Started")
    ps = [json.loads(line) for line in lines_after(r.stdout, "== ps")]
    assert {(p["Service"], p["Name"], p["State"]) for p in ps} == {
        ("web", "proj-web-1", "running"), ("client", "client", "running")}
    web = next(p for p in ps if p["Service"] == "web")
    assert {"URL": "127.0.0.1", "TargetPort": 8000, "PublishedPort": 18080,
            "Protocol": "tcp"} in web["Publishers"]
    assert any(line.endswith("\tweb proj-web-1") for line in lines_after(r.stdout, "== hosts"))
    assert "hello from the bind mount" in lines_after(r.stdout, "== by name")
    after = "\n".join(lines_after(r.stdout, "== after"))
    assert "proj-web-1" not in after and "dockersim" not in after and "dsim" not in after
    assert lines_after(r.stdout, "== procs") == ["none"]


def test_unchanged_up_keeps_process_changed_one_recreated(ns):
    r = ns("""\
        pid() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
                "$DOCKERSIM_ROOT/proj/proj-web-1/state.json"; }
        $D compose up -d >/dev/null; echo "first=$(pid)"
        $D compose up -d; echo "second=$(pid)"
        WEB_TAG=two $D compose up -d; echo "third=$(pid)"
        echo "== env"; $D compose exec -T web sh -c 'echo $TAG'
        """)
    first = r.stdout.split("first=")[1].split()[0]
    assert f"second={first}" in r.stdout, r.output
    assert " Container proj-web-1  Running" in r.stdout
    assert " Container proj-web-1  Recreate" in r.stdout
    assert f"third={first}" not in r.stdout
    assert lines_after(r.stdout, "== env") == ["two"]


def test_loopback_published_port_binds_only_loopback(ns):
    r = ns("""\
        $D compose up -d web >/dev/null
        echo "== lo"; wait_http http://127.0.0.1:18080/f.txt
        probe() { $PY -c 'import socket,sys
        try:
            socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
            print("open")
        except OSError: print("refused")' "$@"; }
        echo "== bridge 18080"; probe 169.254.250.1 18080
        echo "== bridge 18081"; probe 169.254.250.1 18081
        """)
    assert lines_after(r.stdout, "== lo") == ["hello from the bind mount"], r.output
    assert lines_after(r.stdout, "== bridge 18080") == ["refused"]
    assert lines_after(r.stdout, "== bridge 18081") == ["open"]


def test_run_rm_sees_bind_mount_and_propagates_exit_and_stdin(ns):
    r = ns("""\
        echo "== cat"; $D compose run --rm --no-deps -T web cat /mnt/www/f.txt
        $D compose run --rm --no-deps web sh -c 'exit 7'; rc=$?; echo "== rc"; echo $rc
        echo "== stdin"
        echo piped | $D compose run --rm --no-deps -T -e X=1 web sh -c 'cat; echo X=$X'
        echo "== ro"; $D compose run --rm --no-deps web sh -c 'touch /mnt/www/new' 2>&1; echo $?
        echo "== left"; ls "$DOCKERSIM_ROOT"/proj 2>/dev/null | wc -l
        """)
    assert lines_after(r.stdout, "== cat") == ["hello from the bind mount"], r.output
    assert lines_after(r.stdout, "== rc") == ["7"]
    assert lines_after(r.stdout, "== stdin") == ["piped", "X=1"]
    assert lines_after(r.stdout, "== ro")[-1] != "0"  # :ro is honoured
    assert lines_after(r.stdout, "== left") == ["0"]


def test_dead_container_shows_exited_and_up_restarts_it(ns):
    r = ns("""\
        $D compose up -d client >/dev/null
        for i in $(seq 100); do pgrep -f '^sleep 120' >/dev/null && break; sleep 0.05; done
        pkill -KILL -f '^sleep 120'
        for i in $(seq 100); do
          $D compose ps -a --format json | grep -q exited && break; sleep 0.05
        done
        echo "== ps"; $D compose ps -a --format json
        echo "== running"; $D compose ps --format json | wc -l
        echo "== exec"; $D compose exec client true; echo "rc=$?"
        $D compose up client -d --no-deps
        echo "== again"; $D compose ps --format json
        """)
    ps = [json.loads(line) for line in lines_after(r.stdout, "== ps")]
    client = next(p for p in ps if p["Service"] == "client")
    assert client["State"] == "exited" and client["Status"].startswith("Exited (137)"), r.output
    assert lines_after(r.stdout, "== running") == ["1"]  # only web (started as a dependency)
    assert 'service "client" is not running' in r.stderr
    assert "rc=1" in r.stdout
    again = [json.loads(line) for line in lines_after(r.stdout, "== again")]
    assert {p["Service"] for p in again if p["State"] == "running"} == {"web", "client"}


def test_gpu_service_fails_without_gpu_and_unknown_image_is_denied(ns, tmp_path: Path):
    write(tmp_path / "proj" / "gpu.yml", """\
        services:
          ml:
            image: ghcr.io/gonka-ai/mlnode:3.0.13
            deploy: {resources: {reservations: {devices: [{driver: nvidia, count: all,
                     capabilities: [gpu]}]}}}
          bad:
            image: example.invalid/unknown:1
            profiles: [bad]
        """)
    write(tmp_path / "sim.json", '{"gpu": null}')
    r = ns(f"""\
        GONKASIM_SETTINGS={tmp_path}/sim.json $D compose -f gpu.yml up -d; echo "rc=$?"
        $D compose -f gpu.yml up -d bad; echo "rc2=$?"
        """)
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in r.stderr
    assert "rc=1" in r.stdout and "rc2=1" in r.stdout
    assert "pull access denied for example.invalid/unknown" in r.stderr


def test_nginx_inference_proxy_with_real_nginx(ns, tmp_path: Path):
    if not shutil.which("nginx"):
        pytest.skip("Debian's nginx is not installed on this machine")
    join = tmp_path / "proj"
    write(join / "nginx.conf", repo_files.nginx_conf())
    write(join / "ml.yml", """\
        services:
          mlnode-308:
            image: debian:bookworm
            hostname: mlnode-308
            command: ["sh", "-c", "cd /mnt/www && python3 -m http.server 8080 &
                      cd /mnt/www && exec python3 -m http.server 5000"]
            volumes: ["./data:/mnt/www"]
          inference:
            image: nginx:1.28.0
            hostname: inference
            ports: ["${PORT:-8080}:8080", "${INFERENCE_PORT:-5050}:5000"]
            volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
        """)
    r = ns("""\
        $D compose -f ml.yml up -d; echo "rc=$?"
        echo "== versioned"; wait_http http://127.0.0.1:8080/v3.0.8/f.txt
        echo "== 5050"; wait_http http://127.0.0.1:5050/f.txt
        echo "== t"; $D compose -f ml.yml exec -T inference nginx -t 2>&1; echo "rc=$?"
        echo "== reload"; $D compose -f ml.yml exec -T inference nginx -s reload; echo "rc=$?"
        echo "== src"; grep -c ' resolve;' nginx.conf
        $D compose -f ml.yml down >/dev/null; echo "== gone"; pgrep -x nginx || echo none
        """)
    assert lines_after(r.stdout, "== versioned") == ["hello from the bind mount"], r.output
    assert lines_after(r.stdout, "== 5050") == ["hello from the bind mount"]
    assert "test is successful" in r.stdout and "rc=1" not in r.stdout
    assert lines_after(r.stdout, "== src") == ["2"]  # the operator's file is left as it was
    assert lines_after(r.stdout, "== gone") == ["none"]
