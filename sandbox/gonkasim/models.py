"""Governance model list served by the seed (and, through it, by each host's api)."""

from __future__ import annotations

import json

from gonkasim import hf


def _model(mid: str, commit: str, args: list[str], vram: int, proposer: str = "genesis") -> dict:
    return {
        "proposed_by": proposer, "id": mid, "units_of_compute_per_token": "1000",
        "hf_repo": mid, "hf_commit": commit, "model_args": args, "v_ram": str(vram),
        "throughput_per_nonce": "1000",
        "validation_threshold": {"value": "85", "exponent": -2},
    }


def default_models(hf_size: int = hf.DEFAULT_SIZE) -> list[dict]:
    """The 3 current mainnet models (GONKA.md §10) plus the HF sim's tiny model."""
    return [
        _model("moonshotai/Kimi-K2.6", "5a49d036ab7472b7d5912ded487150ec1358c11d",
               ["--max-model-len", "240000", "--tool-call-parser", "kimi_k2",
                "--reasoning-parser", "kimi_k2"], 640),
        _model("MiniMaxAI/MiniMax-M2.7", "d494266a4affc0d2995ba1fa35c8481cbd84294b",
               ["--enable-auto-tool-choice", "--max-model-len", "180000", "--kv-cache-dtype",
                "fp8", "--tool-call-parser", "minimax_m2", "--reasoning-parser",
                "minimax_m2_append_think"], 320),
        _model("deepseek-ai/DeepSeek-V4-Flash-0731", "7872f01b1d1fe23eabc4c98b48bffcef5a386062",
               ["--max-model-len", "400000", "--kv-cache-dtype", "fp8", "--tokenizer-mode",
                "deepseek_v4", "--trust-remote-code"], 280),
        _model(hf.REPO, hf.commit_for(hf_size), ["--max-model-len", "16"], 1, "gonkasim"),
    ]


def load(extra_file: str | None, hf_size: int = hf.DEFAULT_SIZE) -> list[dict]:
    """Defaults plus a JSON file of extra models (a list, or {"models": [...]}); ids override."""
    models = {m["id"]: m for m in default_models(hf_size)}
    if extra_file:
        with open(extra_file) as f:
            data = json.load(f)
        for m in data.get("models", []) if isinstance(data, dict) else data:
            base = _model(m["id"], m.get("hf_commit", ""), m.get("model_args", []), 1)
            models[m["id"]] = {**base, **m}
    return list(models.values())
