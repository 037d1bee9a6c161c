"""Helpers for tests on the machine: run a gonkasim role as a subprocess on 127.0.0.1.

    with SimProcess("node", tmp, listeners=["rpc", "rest"], args=["--home", h]) as node:
        status = node.get("rpc", "/status")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from gonkasim import common

SANDBOX = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIMS = os.path.join(SANDBOX, "shims")


def sim_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONFIG_", "DAPI_", "GONKASIM_"))}
    env["PYTHONPATH"] = SANDBOX + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


class SimProcess:
    def __init__(self, role: str, workdir: str, listeners: list[str], args=None, env=None,
                 name: str | None = None):
        self.role, self.listeners = role, listeners
        self.name = name or role
        self.log_path = os.path.join(workdir, f"{self.name}.out")
        self.err_path = os.path.join(workdir, f"{self.name}.err")
        cmd = [sys.executable, "-m", "gonkasim", role, "--bind", "127.0.0.1"]
        for n in listeners:
            cmd += ["--listen", f"{n}=127.0.0.1:0"]
        self.cmd = cmd + list(args or [])
        self.env = sim_env(env)
        self.proc: subprocess.Popen | None = None
        self.addrs: dict[str, str] = {}

    def start(self, timeout: float = 10.0, expect_ready: bool = True) -> SimProcess:
        # a restart appends to the same log: only lines after this offset describe this run
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err, env=self.env,
                                         start_new_session=True)
        if expect_ready and not common.wait_until(self._ready, timeout, 0.05):
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready: {self.output()}")
        return self

    def _ready(self) -> bool:
        for rec in self.records():
            if rec.get("event") == "listening":
                self.addrs[rec["name"]] = rec["addr"]
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited rc={self.proc.returncode}: {self.output()}")
        return all(n in self.addrs for n in self.listeners)

    def records(self, all_runs: bool = False) -> list[dict]:
        out = []
        try:
            with open(self.log_path) as f:
                f.seek(0 if all_runs else getattr(self, "offset", 0))
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except FileNotFoundError:
            pass
        return out

    def output(self) -> str:
        text = ""
        for p in (self.log_path, self.err_path):
            if os.path.exists(p):
                with open(p) as f:
                    text += f.read()[-3000:]
        return text

    def url(self, name: str) -> str:
        return f"http://{self.addrs[name]}"

    def get(self, name: str, path: str):
        return common.http("GET", self.url(name) + path)

    def post(self, name: str, path: str, body=None):
        return common.http("POST", self.url(name) + path, body if body is not None else {})

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.addrs = {}

    def __enter__(self) -> SimProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def poll(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll until truthy; raise AssertionError with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
