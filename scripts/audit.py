#!/usr/bin/env python3
"""Known advisories in what .venv installs (`make audit`, part of `make test`).

    .venv/bin/python scripts/audit.py

Runs pip-audit (pinned in pyproject.toml's test extra) over the environment of the Python that
runs this script, with the advisories we cannot fix yet excepted in one place
(scripts/audit-exceptions.toml, each naming the package, the version and what lifts it).

pip-audit asks PyPI's per-version JSON (`/pypi/<name>/<version>/json`). Where that does not answer
(a proxy that serves only the project JSON: pip-audit then calls every package "not found on
PyPI", audits nothing and exits 0), the project JSON (`/pypi/<name>/json`) is asked instead: its
`vulnerabilities` are those of the latest release, so they count only for a package we run at
that release. Anything still unanswered is listed as not audited.

Exit status:
  0  audited; no advisory but the excepted ones
  1  an advisory that is not excepted (an answer: never retried)
  2  no audit: pip-audit gave no report after the retries, an index error persisted, the
     exceptions file is malformed, or nothing at all could be audited (fail closed)
A run without an answer (network error, timeout, 5xx, no report) is retried ATTEMPTS times in
all, BACKOFF seconds apart, within DEADLINE for the whole audit; no stdin is read (CI has none).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EXCEPTIONS = Path(__file__).resolve().with_name("audit-exceptions.toml")
INDEX = "https://pypi.org/pypi"
ATTEMPTS = 3
BACKOFF = (15, 45)          # seconds before the 2nd and the 3rd attempt
RUN_TIMEOUT = 300           # one pip-audit run
HTTP_TIMEOUT = 30
DEADLINE = 20 * 60          # the whole audit, retries included (CI has 90 minutes in all)
OK, ADVISORY, NO_AUDIT = 0, 1, 2


class Transient(Exception):
    """No answer this time (network error, timeout, 5xx, no report): worth another attempt."""


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Excepted:
    id: str
    package: str
    version: str
    why: str
    lifted_by: str

    def covers(self, f: Finding) -> bool:
        return (canonical(f.package) == canonical(self.package) and f.version == self.version
                and self.id in (f.id, *f.aliases))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_exceptions(path: Path = EXCEPTIONS) -> list[Excepted]:
    """The exceptions file's entries; a missing or empty field is an error naming the entry."""
    entries = tomllib.loads(path.read_text()).get("exception", [])
    out = []
    for i, entry in enumerate(entries, 1):
        fields = {}
        for key in ("id", "package", "version", "why", "lifted_by"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{path}: exception #{i}: `{key}` is missing or empty")
            fields[key] = value.strip()
        out.append(Excepted(**fields))
    return out


def run_pip_audit(python: str = sys.executable) -> dict:
    """pip-audit's JSON report of `python`'s environment (the editable project left out)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        argv = [python, "-m", "pip_audit", "--skip-editable", "--progress-spinner", "off",
                "--desc", "off", "--timeout", str(HTTP_TIMEOUT), "--format", "json",
                "--output", str(out)]
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise Transient(f"pip-audit ran past {RUN_TIMEOUT}s") from e
        # Exit 1 is also "vulnerabilities found": the report decides, not the exit status.
        try:
            report = json.loads(out.read_text())
        except (OSError, ValueError):
            report = None
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise Transient(f"pip-audit exited {p.returncode} without a report: {' | '.join(tail)}")
    return report


def fetch_project(name: str) -> dict | None:
    """PyPI's project JSON, or None where PyPI has no such project (404)."""
    try:
        with urllib.request.urlopen(f"{INDEX}/{name}/json", timeout=HTTP_TIMEOUT) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise Transient(f"{INDEX}/{name}/json answered {e.code}") from e
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as e:
        raise Transient(f"{INDEX}/{name}/json: {e}") from e


def retried(call: Callable, what: str, sleep: Callable[[float], None] = time.sleep,
            log: Callable[[str], None] = print, left: Callable[[], float] = lambda: DEADLINE):
    """call() until it answers, ATTEMPTS times at most and while `left()` seconds remain of the
    audit's DEADLINE; the last Transient propagates."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except Transient as e:
            delay = BACKOFF[attempt - 1] if attempt < ATTEMPTS else 0
            if attempt == ATTEMPTS or left() < delay:
                raise
            log(f"audit: {what}: no answer ({e}); attempt {attempt + 1} of {ATTEMPTS} "
                f"in {delay}s")
            sleep(delay)
    raise AssertionError("unreachable")


def project_findings(name: str, version: str, project: dict | None) -> list[Finding] | str:
    """The advisories of `name` `version` from PyPI's project JSON, or why it cannot tell."""
    if project is None:
        return "not on PyPI"
    latest = (project.get("info") or {}).get("version")
    vulns = project.get("vulnerabilities")
    if latest != version:
        return f"not the latest release ({latest}): PyPI's project JSON lists the latest's only"
    if not isinstance(vulns, list):
        return "PyPI's project JSON has no `vulnerabilities` list"
    return [Finding(name, version, v["id"], tuple(v.get("aliases") or ()),
                    tuple(v.get("fixed_in") or ()))
            for v in vulns if not v.get("withdrawn")]


def collect(report: dict, versions: dict[str, str], fetch: Callable[[str], dict | None]):
    """(findings, audited names, {unaudited name: why}) from pip-audit's report, asking the
    project JSON for what pip-audit skipped."""
    findings, audited, unaudited = [], [], {}
    for dep in report["dependencies"]:
        name = dep["name"]
        reason = dep.get("skip_reason")
        if reason is None:
            audited.append(name)
            findings += [Finding(name, dep["version"], v["id"], tuple(v.get("aliases") or ()),
                                 tuple(v.get("fix_versions") or ())) for v in dep["vulns"]]
            continue
        if "editable" in reason:    # the project itself (--skip-editable)
            continue
        version = versions.get(canonical(name))
        if version is None:
            unaudited[name] = reason
            continue
        got = project_findings(name, version, fetch(name))
        if isinstance(got, str):
            unaudited[name] = f"{version}: {got}"
        else:
            audited.append(name)
            findings += got
    return findings, audited, unaudited


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def audit(run: Callable[[], dict] = run_pip_audit, fetch: Callable = fetch_project,
          versions: Callable[[], dict[str, str]] = installed,
          exceptions: Callable[[], list[Excepted]] = load_exceptions,
          sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = print,
          clock: Callable[[], float] = time.monotonic) -> int:
    end = clock() + DEADLINE

    def left() -> float:
        return end - clock()

    try:
        excepted = exceptions()
    except (OSError, ValueError) as e:
        log(f"audit: FAILED: the exceptions file: {e}")
        return NO_AUDIT
    try:
        report = retried(run, "pip-audit", sleep, log, left)
        here = versions()
        findings, audited, unaudited = collect(
            report, here, lambda name: retried(lambda: fetch(name), name, sleep, log, left))
    except Transient as e:
        log(f"audit: FAILED: no answer after the retries ({ATTEMPTS} attempts at most, "
            f"{DEADLINE}s in all): {e}")
        return NO_AUDIT
    open_ = [f for f in findings if not any(x.covers(f) for x in excepted)]
    for name, why in sorted(unaudited.items()):
        log(f"audit: warning: {name} not audited: {why}")
    unanswered = {canonical(name) for name in unaudited}
    for x in excepted:
        if any(x.covers(f) for f in findings):
            log(f"audit: excepted {x.id} in {x.package} {x.version}; lifted by: {x.lifted_by}")
        elif canonical(x.package) in unanswered and here.get(canonical(x.package)) == x.version:
            log(f"audit: exception {x.id} kept: {x.package} {x.version} was not audited here")
        else:
            log(f"audit: exception {x.id} ({x.package} {x.version}) is stale (that version is "
                f"not installed, or no longer has the advisory): remove it")
    if open_:
        for f in open_:
            fix = ", ".join(f.fix_versions) or "none yet"
            ids = ", ".join((f.id, *f.aliases))
            log(f"audit: ADVISORY {f.package} {f.version}: {ids} (fixed in: {fix})")
        log(f"audit: FAILED: {len(open_)} advisories not excepted: bump the pin, or add a "
            f"commented exception to {EXCEPTIONS.name} naming what lifts it")
        return ADVISORY
    if not audited:
        log("audit: FAILED: nothing could be audited (no advisory source answered)")
        return NO_AUDIT
    log(f"audit: ok: {len(audited)} packages audited, {len(unaudited)} not, "
        f"{len(findings) - len(open_)} excepted advisories")
    return OK


if __name__ == "__main__":
    sys.exit(audit())
