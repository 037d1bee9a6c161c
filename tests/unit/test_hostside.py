"""The host-side programs, run here as the hosts run them (`sh -c "$(text)" _ ARGS…`)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from gonka_deploy.hostside import HERE, TRANSIENT_PATTERN, is_transient, source
from tests.conftest import unavailable

FAST = dict(os.environ, GONKA_RETRY_DELAY="0")


def run(name: str, *args: str, env=FAST) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", source(name), "_", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.fixture
def server():
    """A loopback HTTP server answering from a script of (status, body) pairs, the last one
    repeated; returns (url, script list, requests seen)."""
    answers: list[tuple[int, str]] = []
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            status, body = answers[min(len(seen), len(answers)) - 1]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/v2/participants/x", answers, seen
    httpd.shutdown()


def test_http_get_retries_transient_answers_then_reports_the_attempts(server):
    url, answers, seen = server
    answers += [(503, "busy"), (502, "busy"), (200, '{"participant": {}}')]
    out = run("http_get.sh", url, "4").stdout.splitlines()
    assert out == ["200", "attempts=3", '{"participant": {}}'] and len(seen) == 3


def test_http_get_takes_a_404_as_final_at_once(server):
    url, answers, seen = server
    answers += [(404, '{"code": 5}')]
    assert run("http_get.sh", url, "4").stdout.splitlines()[:2] == ["404", "attempts=1"]
    assert len(seen) == 1


def test_http_get_takes_a_5xx_with_the_final_text_as_final_and_retries_another(server):
    url, answers, seen = server
    # the gateway's answer to a fee grant that does not exist (cosmossdk.io/x/feegrant)
    answers += [(500, '{"code": 2, "message": "fee-grant not found: not found"}')]
    out = run("http_get.sh", url, "4", "fee-grant not found").stdout.splitlines()
    assert out[:2] == ["500", "attempts=1"] and len(seen) == 1
    answers[:] = [(500, '{"code": 2, "message": "panic: store closed"}'), (200, "{}")]
    seen.clear()
    out = run("http_get.sh", url, "4", "fee-grant not found").stdout.splitlines()
    assert out[:2] == ["200", "attempts=2"] and len(seen) == 2


def test_http_get_gives_up_after_its_attempts_with_nothing_answering():
    out = run("http_get.sh", "http://127.0.0.1:9/none", "3").stdout.splitlines()
    assert out[:2] == ["000", "attempts=3"]


def test_retry_runs_a_transient_failure_again_and_says_so(tmp_path):
    counter = tmp_path / "n"
    flaky = tmp_path / "flaky"
    flaky.write_text(f"#!/bin/sh\nn=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); "
                     f"echo $n > {counter}\n[ $n -ge 3 ] && {{ echo cloned; exit 0; }}\n"
                     "echo 'fatal: read error: Connection reset by peer' >&2; exit 128\n")
    flaky.chmod(0o755)
    done = run("retry.sh", "4", TRANSIENT_PATTERN, str(flaky))
    assert done.returncode == 0 and done.stdout == "cloned\n"
    assert done.stderr.count("failed transiently; retry") == 2
    assert "succeeded on attempt 3" in done.stderr


def test_retry_fails_a_permanent_error_at_once(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("#!/bin/sh\necho \"fatal: couldn't find remote ref v9\" >&2; exit 128\n")
    bad.chmod(0o755)
    done = run("retry.sh", "4", TRANSIENT_PATTERN, str(bad))
    assert done.returncode == 128 and "retry" not in done.stderr


def test_retry_is_bounded(tmp_path):
    down = tmp_path / "down"
    down.write_text("#!/bin/sh\necho 'Could not resolve host: github.com' >&2; exit 128\n")
    down.chmod(0o755)
    done = run("retry.sh", "3", TRANSIENT_PATTERN, str(down))
    assert done.returncode == 128 and done.stderr.count("failed transiently") == 2


@pytest.mark.parametrize("text,transient", [
    ("fatal: read error: Connection reset by peer", True),
    ("curl: (28) Operation timed out after 5001 milliseconds", True),
    ("received unexpected HTTP status: 503 Service Unavailable", True),
    ("fatal: couldn't find remote ref refs/heads/v9", False),
    ("manifest unknown", False),
    ("HTTP 404 Not Found", False),
])
def test_transient_errors_are_told_from_permanent_ones(text, transient):
    assert is_transient(text) is transient


def test_host_side_shell_programs_pass_shellcheck():
    if not shutil.which("shellcheck"):
        unavailable("shellcheck is not installed (apt-get install shellcheck)")
    scripts = sorted(str(p) for p in HERE.glob("*.sh"))
    done = subprocess.run(["shellcheck", "--shell=sh", *scripts], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


def test_http_probe_reports_each_url_and_nothing_for_a_silent_one(server):
    url, answers, _ = server
    answers += [(503, '{"status": "unhealthy"}')]
    done = subprocess.run(["python3", "-c", source("http_probe.py"), url, "http://127.0.0.1:9/x"],
                          capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [{"url": url, "status": 503, "json": {"status": "unhealthy"}},
                     {"url": "http://127.0.0.1:9/x", "status": 0, "json": None}]
