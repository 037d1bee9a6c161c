"""Controller CPU cuts: same answers as pyinfra's own functions, and as tomlkit's edit."""

from __future__ import annotations

import inspect

import pyinfra.api.arguments
import pyinfra.api.util
import pytest

from gonka_deploy import speedups
from gonka_deploy.operations.toml import has_keys, set_keys

CONFIG = """# comment kept
moniker = "node-1"
[p2p]
# peers comment
persistent_peers = "645fbce2dedcc7166f4df7931d2c87ca5188b569@node2.gonka.ai:5000"
max_num_inbound_peers = 40
[consensus]
timeout_commit = "5s"
"""


@pytest.fixture
def installed(monkeypatch):
    for module, name in ((pyinfra.api.util, "stack"), (pyinfra.api.util, "getframeinfo"),
                         (pyinfra.api.arguments, "all_global_arguments")):
        monkeypatch.setattr(module, name, getattr(module, name))   # restored afterwards
    speedups.install()


def test_global_arguments_are_the_originals_computed_once(installed):
    original = speedups._ORIGINAL_ALL_GLOBAL_ARGUMENTS()
    assert pyinfra.api.arguments.all_global_arguments() == original
    assert pyinfra.api.arguments.all_global_arguments() is not \
        pyinfra.api.arguments.all_global_arguments()       # a caller may change its list
    assert speedups._global_arguments.cache_info().currsize == 1


def test_stack_frames_keep_file_and_line_without_reading_source(installed):
    here, fast = inspect.stack(), pyinfra.api.util.stack()
    # the same frames from this one up (no frame of its own added): pyinfra picks by index
    assert [f.function for f in fast] == [f.function for f in here]
    assert [(f.filename, f.lineno) for f in fast[1:]] == [(f.filename, f.lineno) for f in here[1:]]
    assert all(f.code_context is None for f in fast)
    info = pyinfra.api.util.getframeinfo(inspect.currentframe())
    assert (info.filename, info.code_context) == (__file__, None)


def test_keys_with_their_values_need_no_edit():
    values = {
        "p2p.persistent_peers": "645fbce2dedcc7166f4df7931d2c87ca5188b569@node2.gonka.ai:5000",
        "p2p.max_num_inbound_peers": 40, "moniker": "node-1"}
    assert has_keys(CONFIG, values)
    assert set_keys(CONFIG, values) == CONFIG


@pytest.mark.parametrize("values", [
    {"p2p.max_num_inbound_peers": 80},            # another value
    {"p2p.max_num_inbound_peers": "40"},          # another type
    {"p2p.seeds": ""},                            # a key not there
    {"statesync.enable": True},                   # a table not there
    {"moniker.name": "x"},                        # a value where a table is asked
])
def test_any_difference_goes_to_the_edit(values):
    assert not has_keys(CONFIG, values)
    edited = set_keys(CONFIG, values) if "moniker.name" not in values else None
    if edited is not None:
        assert edited != CONFIG and "# peers comment" in edited


def test_unreadable_toml_goes_to_the_edit():
    assert not has_keys("[p2p\nx = 1\n", {"p2p.x": 1})
