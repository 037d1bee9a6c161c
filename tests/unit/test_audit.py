"""scripts/audit.py: an advisory fails `make test`, a missing answer is retried and then fails,
the excepted ones are exactly those of the exceptions file (no network: runner and index faked)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gonka_audit", REPO / "scripts" / "audit.py")
audit = sys.modules["gonka_audit"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

PARAMIKO_CVE = {"id": "GHSA-xxxx-paramiko", "aliases": ["CVE-2026-44405"], "fix_versions": []}


def report(*deps) -> dict:
    return {"dependencies": list(deps), "fixes": []}


def dep(name, version, *vulns):
    return {"name": name, "version": version, "vulns": list(vulns)}


def skipped(name, version):
    return {"name": name, "skip_reason": "Dependency not found on PyPI and could not be audited: "
                                         f"{name} ({version})"}


def project(version, *vulns):
    return {"info": {"version": version}, "vulnerabilities": list(vulns)}


PARAMIKO_EXCEPTION = audit.Excepted("CVE-2026-44405", "paramiko", "4.0.0", "why", "pyinfra 3.11")


def run_audit(answers, index=None, versions=None, exceptions=(PARAMIKO_EXCEPTION,), clock=None):
    """audit() with pip-audit answering `answers` in turn (a dict, or an exception to raise)."""
    calls, sleeps, lines = [], [], []

    def run():
        calls.append(1)
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def fetch(name):
        answer = (index or {})[name]
        if isinstance(answer, list):    # a sequence of answers, one per call
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rc = audit.audit(run=run, fetch=fetch, versions=lambda: dict(versions or {}),
                     exceptions=lambda: list(exceptions), sleep=sleeps.append,
                     log=lines.append, clock=clock or (lambda: sum(sleeps)))
    return rc, len(calls), sleeps, "\n".join(lines)


def test_an_advisory_that_is_not_excepted_fails_and_is_named_with_its_fix():
    vuln = {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-1"], "fix_versions": ["2.34.3"]}
    rc, calls, sleeps, out = run_audit([report(dep("requests", "2.34.2", vuln))])
    assert rc == audit.ADVISORY and calls == 1 and sleeps == []  # an answer: never retried
    assert "ADVISORY requests 2.34.2: PYSEC-2026-1, CVE-2026-1 (fixed in: 2.34.3)" in out


def test_the_excepted_advisory_passes_by_alias_and_says_what_lifts_it():
    rc, _, _, out = run_audit([report(dep("paramiko", "4.0.0", PARAMIKO_CVE))])
    assert rc == audit.OK
    assert "excepted CVE-2026-44405 in paramiko 4.0.0; lifted by: pyinfra 3.11" in out


def test_an_exception_covers_only_its_version_and_its_package():
    assert run_audit([report(dep("paramiko", "4.0.1", PARAMIKO_CVE))])[0] == audit.ADVISORY
    assert run_audit([report(dep("other", "4.0.0", PARAMIKO_CVE))])[0] == audit.ADVISORY
    other_id = {**PARAMIKO_CVE, "id": "CVE-2026-9", "aliases": []}
    assert run_audit([report(dep("paramiko", "4.0.0", other_id))])[0] == audit.ADVISORY


def test_no_report_is_retried_with_backoff_then_the_answer_counts():
    rc, calls, sleeps, out = run_audit([audit.Transient("connection reset"),
                                        report(dep("six", "1.17.0"))])
    assert rc == audit.OK and calls == 2 and sleeps == [audit.BACKOFF[0]]
    assert "pip-audit: no answer (connection reset); attempt 2 of 3" in out


def test_no_report_after_every_attempt_fails_closed():
    rc, calls, sleeps, out = run_audit([audit.Transient("timeout")] * audit.ATTEMPTS)
    assert rc == audit.NO_AUDIT and calls == audit.ATTEMPTS and sleeps == list(audit.BACKOFF)
    assert "FAILED: no answer after the retries" in out


def test_no_retry_runs_past_the_audits_deadline():
    # pip-audit took almost all of the deadline: no time left for the backoff
    times = iter([0, audit.DEADLINE - 1])
    rc, calls, sleeps, _ = run_audit([audit.Transient("timeout")] * audit.ATTEMPTS,
                                     clock=lambda: next(times))
    assert rc == audit.NO_AUDIT and calls == 1 and sleeps == []


def test_an_advisory_after_a_transient_error_still_fails():
    vuln = {"id": "PYSEC-2026-2", "aliases": [], "fix_versions": []}
    rc, calls, _, _ = run_audit([audit.Transient("503"), report(dep("idna", "3.20", vuln))])
    assert rc == audit.ADVISORY and calls == 2


def test_skipped_packages_are_asked_of_the_project_json_at_the_latest_release_only():
    vuln = {"id": "GHSA-1", "aliases": ["CVE-2026-7"], "fixed_in": ["6.0.4"], "withdrawn": None}
    rc, _, _, out = run_audit([report(skipped("PyYAML", "6.0.3"))],
                              index={"PyYAML": project("6.0.3", vuln)},
                              versions={"pyyaml": "6.0.3"})
    assert rc == audit.ADVISORY and "ADVISORY PyYAML 6.0.3: GHSA-1, CVE-2026-7" in out
    # The project JSON's advisories are the latest release's: they say nothing of an older one.
    rc, _, _, out = run_audit([report(skipped("PyYAML", "6.0.3"), dep("six", "1.17.0"))],
                              index={"PyYAML": project("6.0.4", vuln)},
                              versions={"pyyaml": "6.0.3"})
    assert rc == audit.OK
    assert "warning: PyYAML not audited: 6.0.3: not the latest release (6.0.4)" in out


def test_a_withdrawn_advisory_does_not_count():
    vuln = {"id": "GHSA-2", "aliases": [], "fixed_in": [], "withdrawn": "2026-01-01T00:00:00"}
    rc, _, _, _ = run_audit([report(skipped("six", "1.17.0"))],
                            index={"six": project("1.17.0", vuln)}, versions={"six": "1.17.0"})
    assert rc == audit.OK


def test_a_project_answer_without_a_vulnerabilities_list_is_not_a_clean_audit():
    rc, _, _, out = run_audit([report(skipped("six", "1.17.0"))],
                              index={"six": {"info": {"version": "1.17.0"}}},
                              versions={"six": "1.17.0"})
    assert rc == audit.NO_AUDIT  # nothing audited at all
    assert "six not audited: 1.17.0: PyPI's project JSON has no `vulnerabilities` list" in out


def test_an_audit_that_audited_nothing_fails_closed():
    # pip-audit's own verdict here would be "No known vulnerabilities found", exit 0.
    rc, _, _, out = run_audit([report(skipped("six", "1.17.0"), skipped("idna", "3.20"))],
                              index={"six": None, "idna": project("3.21")},
                              versions={"six": "1.17.0", "idna": "3.20"})
    assert rc == audit.NO_AUDIT and "nothing could be audited" in out


def test_an_index_error_is_retried_and_then_fails_closed():
    index = {"six": [audit.Transient("502"), project("1.17.0")]}
    rc, _, sleeps, _ = run_audit([report(skipped("six", "1.17.0"))], index=index,
                                 versions={"six": "1.17.0"})
    assert rc == audit.OK and sleeps == [audit.BACKOFF[0]]
    index = {"six": [audit.Transient("502")] * audit.ATTEMPTS}
    rc, _, _, _ = run_audit([report(skipped("six", "1.17.0"))], index=index,
                            versions={"six": "1.17.0"})
    assert rc == audit.NO_AUDIT


def test_a_stale_exception_is_named():
    rc, _, _, out = run_audit([report(dep("paramiko", "5.1.0"))], versions={"paramiko": "5.1.0"})
    assert rc == audit.OK and "exception CVE-2026-44405 (paramiko 4.0.0) is stale" in out


def test_the_exceptions_file_names_what_lifts_each_entry():
    entries = audit.load_exceptions()
    assert {(x.id, x.package, x.version) for x in entries} == {
        ("CVE-2026-44405", "paramiko", "4.0.0")}
    assert all("pyinfra" in x.lifted_by for x in entries)


def test_a_malformed_exceptions_file_fails_the_audit(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text('[[exception]]\nid = "CVE-1"\npackage = "p"\nversion = "1"\nwhy = "w"\n')
    with pytest.raises(ValueError, match="exception #1: `lifted_by` is missing"):
        audit.load_exceptions(bad)
    rc = audit.audit(run=lambda: pytest.fail("audited"), exceptions=lambda: audit.load_exceptions(
        bad), log=lambda line: None)
    assert rc == audit.NO_AUDIT


def test_a_pip_audit_run_without_a_report_is_transient(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ConnectionError: pypi.org' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(audit.Transient, match="exited 1 without a report: ConnectionError"):
        audit.run_pip_audit(str(fake))


def test_pip_audit_reports_through_its_output_file(tmp_path):
    fake = tmp_path / "python"
    doc = json.dumps(report(dep("six", "1.17.0", {"id": "X", "aliases": [], "fix_versions": []})))
    # exit 1 is pip-audit's "vulnerabilities found": the report still counts
    fake.write_text(f"#!/bin/sh\nwhile [ \"$1\" != --output ]; do shift; done\n"
                    f"printf '%s' '{doc}' > \"$2\"\nexit 1\n")
    fake.chmod(0o755)
    assert audit.run_pip_audit(str(fake))["dependencies"][0]["vulns"][0]["id"] == "X"


@pytest.mark.needs("make")
def test_make_test_runs_the_audit_and_the_audit_runs_pip_audit_from_the_venv():
    plan = subprocess.run(["make", "-n", "-W", "pyproject.toml", "test"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout
    assert "scripts/audit.py" in plan and "pytest" in plan
    assert plan.index("scripts/audit.py") < plan.index("pytest")
    assert "pip-audit==" in (REPO / "pyproject.toml").read_text()
    assert audit.run_pip_audit.__defaults__ == (sys.executable,)
