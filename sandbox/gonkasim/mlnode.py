"""mlnode role: the MLNode container (management API on 8080, vLLM-style inference on 5000).

    python3 -m gonkasim mlnode [--listen management=H:P] [--listen inference=H:P]

`version` in /api/v1/state is the image tag (env GONKASIM_IMAGE, set by the docker shim) and
`service` the hostname. Every reply carries `X-Gonkasim-Version: <tag>`. Inference answers
only while a model is up (POST /api/v1/inference/up), like vLLM behind the real proxy.

The real api reaches an MLNode through the `inference` nginx, which strips a version segment
(`/v3.0.8/api/v1/state` -> `/api/v1/state`). `--version-prefixes v3.0.8,...` (or env
GONKASIM_MLNODE_PREFIXES) makes this sim strip those segments itself, for setups without that
nginx; other version segments get 404 as from nginx.

After a (re)start it is STOPPED and not ready (`/readyz` 503) until the api brings its model up
(POST /api/v1/inference/up, which returns once the model is loaded: `mlnode_load_seconds` of
the per-host settings, default 0); meanwhile /api/v1/state says INFERENCE with
`inference_healthy` false. An image whose tag is listed in the settings' `mlnode_broken_tags`
never becomes healthy: /health and /readyz answer 503 and bringing a model up fails (500).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
import uuid

from gonkasim import common, gpu, settings

ROLE = "mlnode"


class MLState:
    def __init__(self, version: str, service: str, broken: bool = False,
                 load_seconds: float = 0.0):
        self.version, self.service = version, service
        self.broken, self.load_seconds = broken, load_seconds
        self.lock = threading.Lock()
        self.state = "STOPPED"
        self.loading = False
        self.model: str | None = None
        self.args: list[str] = []

    def snapshot(self) -> dict:
        with self.lock:
            healthy = self.state == "INFERENCE" and not self.loading and not self.broken
            return {"state": self.state, "version": self.version, "service": self.service,
                    "poc_status": "IDLE", "inference_healthy": healthy,
                    "loaded_model": self.model if healthy else None}


def hf_snapshot_status(repo: str, commit: str | None) -> str:
    """DOWNLOADED if $HF_HOME holds a snapshot of repo (at commit), else NOT_FOUND."""
    home = os.environ.get("HF_HOME", "/root/.cache")
    base = os.path.join(home, "hub", "models--" + repo.replace("/", "--"))
    snaps = os.path.join(base, "snapshots")
    if commit:
        return "DOWNLOADED" if os.path.isdir(os.path.join(snaps, commit)) else "NOT_FOUND"
    return "DOWNLOADED" if os.path.isdir(snaps) and os.listdir(snaps) else "NOT_FOUND"


class Common(common.Handler):
    role = ROLE
    ml: MLState
    prefixes: tuple[str, ...] = ()

    def _dispatch(self):
        for prefix in self.prefixes:
            if self.path.startswith(f"/{prefix}/"):
                self.path = self.path[len(prefix) + 1:]
                break
        super()._dispatch()

    def inference(self, method, path, query) -> bool:
        """The vLLM-compatible routes; returns False when the path is not one of them."""
        snap = self.ml.snapshot()
        if path == "/health":
            return self.reply(200 if snap["inference_healthy"] else 503, b"") or True
        if path not in ("/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize"):
            return False
        if not snap["inference_healthy"]:
            self.reply(503, {"error": "no inference backend is running"})
            return True
        if path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{
                "id": snap["loaded_model"], "object": "model", "created": int(time.time()),
                "owned_by": "vllm", "root": snap["loaded_model"], "max_model_len": 16}]})
            return True
        body = self.json_body() or {}
        if path == "/tokenize":
            text = body.get("prompt") or " ".join(
                str(m.get("content", "")) for m in body.get("messages", []))
            tokens = list(range(1, len(text.split()) + 1))
            self.reply(200, {"count": len(tokens), "max_model_len": 16, "tokens": tokens})
            return True
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", [])) \
            or str(body.get("prompt", ""))
        content = (f"gonkasim mlnode {snap['version']} on {snap['service']} "
                   f"({snap['loaded_model']}) heard: {prompt[:200]}")
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split()),
                 "total_tokens": len(prompt.split()) + len(content.split())}
        if path == "/v1/completions":
            self.reply(200, {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                             "created": int(time.time()), "model": snap["loaded_model"],
                             "choices": [{"index": 0, "text": content, "finish_reason": "stop"}],
                             "usage": usage})
            return True
        self.reply(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model") or snap["loaded_model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": usage, "system_fingerprint": f"gonkasim-{snap['version']}"})
        return True


class InferenceHandler(Common):
    def route(self, method, path, query):
        if not self.inference(method, path, query):
            self.reply(404, {"detail": "Not Found"})


class ManagementHandler(Common):
    def route(self, method, path, query):
        ml = self.ml
        cfg = settings.load()
        devs = [] if cfg.get("nvidia_smi_fail") else gpu.devices(cfg)
        if path.startswith("/v1/") and self.inference(method, path, query):
            return None
        if path in ("/health", "/livez"):
            healthy = bool(devs) and not ml.broken
            return self.reply(200 if healthy else 503, {
                "status": "healthy" if healthy else "unhealthy", "service_state": ml.state,
                "gpu": {"available": bool(devs), "count": len(devs),
                        "devices": [d["name"] for d in devs]},
                "managers": {"pow": {"running": False},
                             "inference": {"running": ml.state == "INFERENCE",
                                           "healthy": not ml.broken},
                             "train": {"running": False}}})
        if path == "/readyz":
            ready = ml.snapshot()["inference_healthy"]
            return self.reply(200 if ready else 503, {"ready": ready})
        if path == "/api/v1/state":
            return self.reply(200, ml.snapshot())
        if path == "/api/v1/stop" and method == "POST":
            with ml.lock:
                ml.state, ml.model, ml.args = "STOPPED", None, []
            return self.reply(200, {"status": "OK"})
        if path == "/api/v1/inference/up" and method == "POST":
            body = self.json_body() or {}
            if not body.get("model"):
                return self.reply(422, {"detail": "model is required"})
            if ml.broken:
                common.log(ROLE, event="inference-up-failed", model=body["model"])
                return self.reply(500, {"detail": "vLLM backend failed to start (gonkasim: "
                                                  "this image tag is set broken)"})
            with ml.lock:
                if ml.state == "INFERENCE":
                    return self.reply(409, {"detail": "Inference is already running"})
                ml.state, ml.model, ml.loading = "INFERENCE", body["model"], True
                ml.args = list(body.get("additional_args") or [])
            time.sleep(ml.load_seconds)  # the model loads; the call returns once it is up
            with ml.lock:
                ml.loading = False
            common.log(ROLE, event="inference-up", model=body["model"], args=ml.args,
                       dtype=body.get("dtype"))
            return self.reply(200, {"status": "OK"})
        if path == "/api/v1/inference/down" and method == "POST":
            with ml.lock:
                ml.state, ml.model, ml.args = "STOPPED", None, []
            return self.reply(200, {"status": "OK"})
        if path == "/api/v1/inference/up/status":
            return self.reply(200, {"is_running": ml.state == "INFERENCE"})
        if path == "/api/v1/gpu/devices":
            return self.reply(200, {"devices": [{
                "index": d["index"], "name": d["name"], "uuid": d["uuid"],
                "total_memory_mb": d["memory_mib"], "free_memory_mb": d["memory_mib"] - 480,
                "used_memory_mb": 0, "utilization_percent": 0, "temperature_c": 46,
                "is_available": True} for d in devs], "count": len(devs)})
        if path == "/api/v1/gpu/driver":
            return self.reply(200, {"driver_version": gpu.DRIVER, "cuda_driver_version": gpu.CUDA})
        if path == "/api/v1/models/status" and method == "POST":
            body = self.json_body() or {}
            repo = body.get("hf_repo") or ""
            return self.reply(200, {"model": {"hf_repo": repo, "hf_commit": body.get("hf_commit")},
                                    "status": hf_snapshot_status(repo, body.get("hf_commit")),
                                    "progress": None, "error_message": None})
        if path == "/api/v1/models/list":
            return self.reply(200, {"models": []})
        self.reply(404, {"detail": "Not Found"})


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim mlnode", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--service", default=socket.gethostname(), help="reported service name")
    ap.add_argument("--version-prefixes", default=os.environ.get("GONKASIM_MLNODE_PREFIXES", ""))
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"management": 8080, "inference": 5000}, "management")
    tag = common.image_tag()
    cfg = settings.load()
    ml = MLState(tag, args.service, broken=tag in (cfg.get("mlnode_broken_tags") or []),
                 load_seconds=float(cfg.get("mlnode_load_seconds") or 0))
    for cls in (ManagementHandler, InferenceHandler):
        cls.ml = ml
        cls.prefixes = tuple(p.strip("/") for p in args.version_prefixes.split(",") if p.strip())
        cls.extra_headers = {"X-Gonkasim-Version": tag}
    common.serve(ROLE, "management", addrs["management"], ManagementHandler)
    common.serve(ROLE, "inference", addrs["inference"], InferenceHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
