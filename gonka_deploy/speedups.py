"""Controller CPU per host: two of pyinfra 3.10's per-operation costs, cut.

Profiled on a no-op converge of 20 hosts (``bench/noop.py``), most of the controller's CPU went
to work whose result never changes within a run:

- ``pyinfra/api/util.py::get_operation_order_from_stack`` orders each operation call by the
  line numbers on the stack, with ``inspect.stack()`` and ``getframeinfo(frame)``: both read
  each frame's source lines (``findsource``, ``getmodule`` over every loaded module) for a
  ``code_context`` nothing in pyinfra uses (only ``filename`` and ``lineno``). Here they are
  called with ``context=0``: the same frames, file names and line numbers, no source read.
- ``pyinfra/api/arguments.py::all_global_arguments`` evaluates ``get_type_hints(AllArguments)``
  on every operation call of every host (``pop_global_arguments``). The TypedDict is fixed at
  import: its hints are computed once.

pyinfra is pinned (pyproject.toml); ``tests/unit/test_speedups.py`` checks both against the
originals, so a pyinfra that changes them fails there, not in a run.
"""

from __future__ import annotations

import functools
import inspect

import pyinfra.api.arguments
import pyinfra.api.util

# partials, not wrapper functions: a wrapper would be one more frame on the stack they read
_stack = functools.partial(inspect.stack, 0)
_getframeinfo = functools.partial(inspect.getframeinfo, context=0)


_ORIGINAL_ALL_GLOBAL_ARGUMENTS = pyinfra.api.arguments.all_global_arguments


@functools.cache
def _global_arguments() -> tuple:
    return tuple(_ORIGINAL_ALL_GLOBAL_ARGUMENTS())


def _all_global_arguments() -> list:
    return list(_global_arguments())


def install() -> None:
    """Replace the three names in pyinfra's modules (idempotent)."""
    pyinfra.api.util.stack = _stack
    pyinfra.api.util.getframeinfo = _getframeinfo
    pyinfra.api.arguments.all_global_arguments = _all_global_arguments
