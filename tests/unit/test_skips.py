"""A test that cannot run must not pass as skipped in CI: every skip goes through
tests/conftest.py's `unavailable()` (or the `needs` marker, which calls it), and no test reads
anything outside the repository (../shared)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import conftest

TESTS = Path(__file__).resolve().parents[1]

# The only skips that stay skips in CI, each for a reason other than a missing tool.
ALLOWED = {
    # the one place a skip is decided: fails instead where CI=true
    ("conftest.py", "unavailable"),
    # mode lo shares the machine's network on purpose: that test's subject does not exist there
    # (CI runs the default mode, netns, where it runs)
    ("sandbox/test_bench.py", "test_hosts_reach_each_others_address_but_not_each_others_loopback"),
    # opt-in (GONKA_SANDBOX_PYPI=1): it downloads from PyPI, outside loopback and the repository
    ("sandbox/test_bench.py", "test_pip_download_works_through_the_egress_proxy"),
}
SKIPPERS = {"skip", "skipif", "importorskip", "xfail"}


class _Skips(ast.NodeVisitor):
    """(innermost function or "<module>", source) of each pytest skip/skipif/xfail/importorskip."""

    def __init__(self):
        self.stack, self.found = ["<module>"], []

    def visit_FunctionDef(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if node.attr in SKIPPERS and "pytest" in ast.unparse(node.value):
            self.found.append((self.stack[-1], ast.unparse(node)))
        self.generic_visit(node)


def _skip_sites(path: Path):
    visitor = _Skips()
    visitor.visit(ast.parse(path.read_text()))
    return visitor.found


def test_every_skip_in_the_tests_fails_in_ci_unless_listed():
    found = set()
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS).as_posix()
        if rel.startswith(("golden/", "reference/")) or path == Path(__file__):
            continue
        for name, what in _skip_sites(path):
            found.add((rel, name))
            assert (rel, name) in ALLOWED, (
                f"{rel}::{name}: {what} skips in CI too: use tests/conftest.py's unavailable() "
                "or @pytest.mark.needs(...), which fail where CI=true")
    assert found == ALLOWED   # and the list names no skip that is gone


def test_no_test_reads_the_shared_folder_beside_the_repo():
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "shared":
                pytest.fail(f"{path.relative_to(TESTS)}:{node.lineno}: a path through "
                            "\"shared\": store what the test needs under tests/reference/")


class _Item:
    def __init__(self, *marks):
        self._marks = marks

    def iter_markers(self, name):
        return [m.mark for m in self._marks if m.mark.name == name]


def test_a_missing_tool_named_by_needs_skips_locally_and_fails_in_ci(monkeypatch):
    item = _Item(pytest.mark.needs("git"), pytest.mark.needs("no-such-tool-h20"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs `no-such-tool-h20`"):
        conftest.pytest_runtest_setup(item)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI cannot run this test: needs `no-such"):
        conftest.pytest_runtest_setup(item)


def test_needs_takes_paths_and_root(monkeypatch, tmp_path):
    tool = tmp_path / "tool"
    assert conftest.missing_needs((str(tool),)) == f"needs `{tool}` (scripts/debian-deps.sh or " \
        "the venv installs it)"
    tool.touch()
    assert conftest.missing_needs((str(tool), "sh")) is None
    monkeypatch.setattr(conftest.os, "geteuid", lambda: 1000)
    assert conftest.missing_needs((str(tool),), root=True) == "needs root"
    monkeypatch.setattr(conftest.os, "geteuid", lambda: 0)
    assert conftest.missing_needs((str(tool),), root=True) is None
    monkeypatch.setenv("CI", "true")
    conftest.pytest_runtest_setup(_Item(pytest.mark.needs(str(tool), root=True)))  # runs


def test_the_tools_the_needs_markers_name_are_installed_by_the_project():
    deps = (TESTS.parent / "scripts" / "debian-deps.sh").read_text()
    # nginx, unshare (util-linux), git, flock (util-linux): scripts/debian-deps.sh's list
    for package in ("nginx", "util-linux", "git"):
        assert f" {package} " in deps.replace("\n", " "), package
    assert "huggingface_hub==" in (TESTS.parent / "pyproject.toml").read_text()  # .venv/bin/hf


def test_reference_data_is_read_from_the_repository():
    assert conftest.reference_path("gpu", "nvidia-smi.txt").is_relative_to(TESTS)
    with pytest.raises(AssertionError, match="missing from the repository"):
        conftest.reference_path("gpu", "no-such-capture.txt")
