"""What the sandbox hosts' real Docker Engine shows that a simulated one could not.

A single-file bind mount pins the inode: `nginx.conf` rewritten in place is what the running
`inference` container reads on reload, a file renamed over it is not, and the toolkit's nginx
update (gonka_deploy/operations/nginx.py) writes in place. Pulls: an image on the host needs no
registry; a missing one with the registry unreachable fails the host naming the image.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from gonka_deploy.operations.compose import PULL_SCRIPT
from gonka_deploy.operations.nginx import UPDATE_SCRIPT
from tests.sandbox.hostcmd import poll, put

pytestmark = pytest.mark.sandbox
DIR = "/root/pin"
COMPOSE = """\
services:
  mlnode-308:
    image: ghcr.io/gonka-ai/mlnode:3.0.13
    hostname: mlnode-308
  mlnode-309:
    image: ghcr.io/gonka-ai/mlnode:3.0.14
    hostname: mlnode-309
  inference:
    image: nginx:1.28.0
    ports: ["127.0.0.1:8080:8080"]
    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
"""


def nginx_conf(service: str) -> str:
    return textwrap.dedent(f"""\
        events {{}}
        http {{
            resolver 127.0.0.11 valid=10s;
            upstream ml {{
                zone ml 64k;
                server {service}:8080 resolve;
            }}
            server {{
                listen 8080;
                location / {{ proxy_pass http://ml/; }}
            }}
        }}
        """)


@pytest.fixture(scope="module")
def host(fleet):
    (h,) = fleet.add(1, prefix="eng", docker=True)
    yield h
    fleet.remove([h])


def served_version(h) -> str:
    return json.loads(poll(h, "curl -sf http://127.0.0.1:8080/api/v1/state"))["version"]


def test_a_real_engine_and_compose_v2(host):
    assert host.run("docker version --format '{{.Server.Version}}'").startswith("20.10.")
    assert host.run("docker info --format '{{.Driver}}'").strip() == "overlay2"
    assert host.run("docker compose version --short").startswith("2.")


def test_in_place_rewrite_reaches_the_running_proxy_and_a_renamed_file_does_not(host):
    put(host, f"{DIR}/compose.yml", COMPOSE)
    put(host, f"{DIR}/nginx.conf", nginx_conf("mlnode-308"))
    up = host.run(f"cd {DIR} && docker compose up -d 2>&1; echo rc=$?", timeout=300)
    assert "rc=0" in up, up
    assert served_version(host) == "3.0.13"

    # the toolkit's update: new text written into the same file, nginx -t, reload
    update = f"sh -c {_q(UPDATE_SCRIPT)} _ {DIR} inference compose.yml"
    out = host.run(f"printf %s {_q(nginx_conf('mlnode-309'))} | {update} 2>&1; echo rc=$?")
    assert "rc=0" in out, out
    assert served_version(host) == "3.0.14"

    # an editor-style save (write a new file, rename it over): the container keeps the old inode
    host.run(f"cd {DIR} && printf %s {_q(nginx_conf('mlnode-308'))} > nginx.conf.new && "
             "mv nginx.conf.new nginx.conf")
    inside = host.run(f"cd {DIR} && docker compose exec -T inference cat /etc/nginx/nginx.conf")
    assert "server mlnode-309:8080" in inside      # the renamed file is not what it sees
    host.run(f"cd {DIR} && docker compose exec -T inference nginx -s reload")
    assert served_version(host) == "3.0.14"


def test_present_image_needs_no_registry_and_a_missing_one_names_itself(host, tmp_path,
                                                                        run_pyinfra, fleet):
    host.run("docker pull -q prom/prometheus:v2.53.2 >/dev/null", timeout=300)
    assert "prom/node-exporter:v1.8.2" not in host.run("docker images --format "
                                                       "'{{.Repository}}:{{.Tag}}'")
    # The registry refuses this host: a rule in the host's own network namespace, so that the
    # keep-alive connections dockerd still holds from earlier pulls are cut too (and dockerd's
    # 5 s cache of /etc/hosts does not matter, as it would for a changed name).
    reject = f"OUTPUT -p tcp -d {fleet.gateway} --dport 443 -j REJECT --reject-with tcp-reset"
    host.run(f"iptables -I {reject}")
    try:
        out = host.run(f"python3 -c {_q(PULL_SCRIPT)} prom/prometheus:v2.53.2; echo rc=$?")
        assert out.strip() == "rc=0", out
        deploy = tmp_path / "pull.py"
        deploy.write_text(textwrap.dedent("""\
            from gonka_deploy.operations import compose
            compose.pulled(name="Pull present", directory="/root", files=["compose.yml"],
                           service="prometheus", image="prom/prometheus:v2.53.2")
            compose.pulled(name="Pull missing", directory="/root", files=["compose.yml"],
                           service="exporter", image="prom/node-exporter:v1.8.2")
            """))
        # outside the repo root: its config.py validates a whole node inventory
        rc, out = run_pyinfra([host], deploy, cwd=tmp_path)
        assert rc != 0, out
        present, missing = out.split("--> Starting operation: Pull missing", 1)
        assert f"[{host.name}] No changes" in present, out   # present: no registry needed
        assert f"[{host.name}] pulling prom/node-exporter:v1.8.2" in missing, out
        assert "retry 1/3" in missing, out          # transient (refused): retried, bounded
        assert f"[{host.name}] cannot pull prom/node-exporter:v1.8.2: registry unreachable " \
               "after 4 attempts" in missing, out
    finally:
        host.run(f"iptables -D {reject}")


def _q(text: str) -> str:
    import shlex

    return shlex.quote(text)
