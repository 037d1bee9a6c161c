"""Model weights: the huggingface_hub client in its own venv, and detached pinned downloads."""

from __future__ import annotations

import json
import time

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.hf import HfClientVersion, HfModel, env_command
from ..hfscript import SCRIPT
from .util import describe_size, host_step, operation, run_on_host


@operation()
def client(venv: str, version: str, env: dict[str, str] | None = None):
    """
    Install ``huggingface_hub==version`` into its own venv on the host.

    + venv: venv directory, e.g. ``/opt/gonka-deploy/hf-venv``
    + version: exact huggingface_hub version
    + env: environment for pip (an outbound proxy, for example)

    **Example:**

    .. code:: python

        hf.client(venv="/opt/gonka-deploy/hf-venv", version="2.4.0")
    """
    if host.get_fact(HfClientVersion, venv=venv) == version:
        host.noop(f"huggingface_hub {version} is installed in {venv}")
        return
    yield StringCommand("python3", "-m", "venv", QuoteString(venv))
    yield env_command(env or {}, QuoteString(f"{venv}/bin/pip"), "install", "--quiet",
                      "--disable-pip-version-check", QuoteString(f"huggingface_hub=={version}"))


def progress(info: dict | None) -> str:
    if not info or "total" not in info:
        return "size unknown" + (f" ({info['error']})" if info and "error" in info else "")
    pct = 100.0 * info["have"] / info["total"] if info["total"] else 100.0
    return (f"{describe_size(info['have'])} of {describe_size(info['total'])} ({pct:.1f}%), "
            f"{info['missing_count']} of {info['files']} files to go")


@operation()
def model(repo: str, sha: str, env: dict[str, str], hf_bin: str):
    """
    Make sure a pinned model snapshot is complete, or being downloaded, in ``$HF_HOME``.

    + repo: Hugging Face repo id
    + sha: pinned commit
    + env: the Hugging Face environment (``HF_HOME``, ``HF_ENDPOINT``, proxy…), see ``hf_env``
    + hf_bin: the ``hf`` CLI of the client venv

    The download runs detached on the host: it survives a dropped SSH connection, and a re-run
    re-attaches to it instead of starting a second one. This operation does not wait; see
    ``wait_models``.

    **Example:**

    .. code:: python

        hf.model(repo="MiniMaxAI/MiniMax-M2.7", sha="d494266a…", env=hf_env("/mnt/ssd/hf", …),
                 hf_bin="/opt/gonka-deploy/hf-venv/bin/hf")
    """
    info = host.get_fact(HfModel, repo=repo, sha=sha, env=env)
    if info and info.get("complete"):
        host.noop(f"{repo}@{sha[:12]} is complete ({describe_size(info['total'])})")
        return
    if info and info.get("running"):
        host.noop(f"{repo}@{sha[:12]} is downloading: {progress(info)}")
        return
    verb = "starting download of" if state.is_executing else "would download"
    logger.info(f"{host.print_prefix}{verb} {repo}@{sha[:12]}: {progress(info)}")
    yield env_command(env, "python3", "-c", QuoteString(SCRIPT), "start", QuoteString(repo),
                      QuoteString(sha), QuoteString(hf_bin))


class WaitFailed(Exception):
    pass


def _wait(models: list[tuple[str, str]], env: dict[str, str], timeout: float,
          interval: float) -> bool:
    """FunctionCommand body: False (the host fails) with the reason logged, never a traceback."""
    try:
        return _poll(models, env, timeout, interval)
    except WaitFailed as exc:
        logger.error(f"{host.print_prefix}{exc}")
        return False


def _poll(models: list[tuple[str, str]], env: dict[str, str], timeout: float,
          interval: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = list(models)
    last: dict[str, tuple[float, int]] = {}
    while pending:
        for repo, sha in list(pending):
            command = env_command(env, "python3", "-c", QuoteString(SCRIPT), "status",
                                  QuoteString(repo), QuoteString(sha))
            ok, output = run_on_host(command)
            info = json.loads(output.stdout_lines[-1]) if output.stdout_lines else None
            if not ok or not info:
                raise WaitFailed(f"cannot read the state of {repo}: {output.stderr}")
            now = time.monotonic()
            rate = ""
            if repo in last and info.get("have") is not None:
                then, had = last[repo]
                if now > then:
                    rate = f", {describe_size(int((info['have'] - had) / (now - then)))}/s"
            if info.get("have") is not None:
                last[repo] = (now, info["have"])
            if info.get("complete"):
                logger.info(f"{host.print_prefix}{repo}@{sha[:12]} complete "
                            f"({describe_size(info['total'])})")
                pending.remove((repo, sha))
                continue
            if not info.get("running"):
                raise WaitFailed(f"the download of {repo}@{sha[:12]} stopped before it "
                                     f"finished ({progress(info)}); see $HF_HOME/.gonka-deploy/"
                                     "*.log on the host, then re-run")
            logger.info(f"{host.print_prefix}{repo}@{sha[:12]}: {progress(info)}{rate}")
        if pending and time.monotonic() > deadline:
            raise WaitFailed(f"models not complete after {timeout:.0f} s: "
                                 + ", ".join(r for r, _ in pending))
        if pending:
            time.sleep(interval)  # the poll interval of a bounded wait, not a fixed delay
    return True


@operation(is_idempotent=False)
def wait_models(models: list[tuple[str, str]], env: dict[str, str], timeout: float = 6 * 3600,
                interval: float = 2.0):
    """
    Wait until pinned model snapshots are complete, printing percent and rate while waiting.

    + models: ``(repo, sha)`` pairs
    + env: the Hugging Face environment, see ``hf_env``
    + timeout: seconds before giving up
    + interval: seconds between two progress reads

    A download that stopped (killed, out of space) fails the host with the reason; re-running
    the deploy starts it again.

    **Example:**

    .. code:: python

        hf.wait_models(models=[("MiniMaxAI/MiniMax-M2.7", "d494266a…")], env=env)
    """
    incomplete = []
    for repo, sha in models:
        info = host.get_fact(HfModel, repo=repo, sha=sha, env=env)
        if not (info and info.get("complete")):
            incomplete.append((repo, sha))
    if not incomplete:
        host.noop(f"{len(models)} model(s) complete")
        return
    yield from host_step(_wait, incomplete, env, timeout, interval, what="waiting for the models")
