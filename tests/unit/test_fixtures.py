"""Operations and facts against JSON fixtures (see fixtures.py for the format)."""

from __future__ import annotations

import pytest

from .fixtures import case_id, cases, run_fact, run_operation


def test_there_are_fixture_cases():
    assert len(cases("operations")) >= 10 and len(cases("facts")) >= 3


@pytest.mark.parametrize("path", cases("operations"), ids=case_id)
def test_operation(path, caplog, tmp_path, monkeypatch):
    run_operation(path, caplog, tmp_path, monkeypatch)


@pytest.mark.parametrize("path", cases("facts"), ids=case_id)
def test_fact(path):
    run_fact(path)
