"""A release profile's values, read as the plain data it is: the file is parsed, never executed.

Profiles used to run through ``runpy``: any code in a profile (an operator's private one, a
file dropped on ``GONKA_RELEASES_PATH``) ran inside the deploy with the keyring passwords, the
backup passphrase and the bot token in ``os.environ`` and in memory. A scrubbed ``os.environ``
would not have been enough (``/proc/self/environ`` and the process's own objects keep them), and
a child process per profile costs a Python start per release. So nothing in a profile runs: its
syntax tree is evaluated here, accepting only what a data file needs:

- ``name = <value>`` assignments (one plain name per statement) and a leading docstring;
- literals: strings (adjacent ones join), numbers, ``True``/``False``/``None``, lists, tuples,
  dicts (no ``**``);
- a name assigned earlier in the file (``DEEPSEEK = "7872…"`` used in a list), and ``+`` of two
  strings or two lists (``_through("v0.2.16") + [{...}]``);
- ``from gonka_deploy.release.mainnet import through as _through`` and calls of it with plain
  arguments: the only code a profile reaches, and it is this project's own.

Anything else (another import, an attribute, a subscript, a comprehension, an f-string, a call
of anything else) fails the load naming the file and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

# What a profile may import: module -> names (only this project's own, side-effect free data).
ALLOWED_IMPORTS = {"gonka_deploy.release.mainnet": ("through",)}
CONSTANTS = (str, int, float, bool, type(None))


class DataFileError(ValueError):
    """A construct a profile may not use; the message names the line."""


def _allowed_function(module: str, name: str) -> Callable[..., Any]:
    import importlib

    return getattr(importlib.import_module(module), name)


class _Reader:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {}
        self.functions: dict[str, Callable[..., Any]] = {}

    def fail(self, node: ast.AST, what: str) -> DataFileError:
        return DataFileError(f"line {getattr(node, 'lineno', '?')}: {what} (a release profile "
                             "is plain data: assignments of literals, lists and dicts)")

    def statement(self, node: ast.stmt, first: bool) -> None:
        if isinstance(node, ast.Expr) and first and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            return  # the module docstring
        if isinstance(node, ast.ImportFrom):
            return self.import_from(node)
        if isinstance(node, ast.Import):
            raise self.fail(node, "an import of " + ", ".join(a.name for a in node.names))
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                raise self.fail(node, "an assignment to anything but one plain name")
            self.names[node.targets[0].id] = self.value(node.value)
            self.functions.pop(node.targets[0].id, None)
            return
        raise self.fail(node, f"a {type(node).__name__} statement")

    def import_from(self, node: ast.ImportFrom) -> None:
        if node.module == "__future__" and node.level == 0:
            return
        allowed = ALLOWED_IMPORTS.get(node.module or "") if node.level == 0 else None
        for alias in node.names:
            if allowed is None or alias.name not in allowed:
                raise self.fail(node, f"an import of {node.module}.{alias.name} (only "
                                + ", ".join(f"{m}.{n}" for m, ns in ALLOWED_IMPORTS.items()
                                            for n in ns) + " may be imported)")
            bound = alias.asname or alias.name
            self.functions[bound] = _allowed_function(node.module, alias.name)
            self.names.pop(bound, None)

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, CONSTANTS):
            return node.value
        if isinstance(node, ast.List):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.value(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise self.fail(node, "a ** in a dict")
            return {self.value(k): self.value(v) for k, v in
                    zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in self.names:
                raise self.fail(node, f"the name {node.id!r}, not assigned above it")
            return self.names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.value(node.operand)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.value(node.left), self.value(node.right)
            if type(left) is type(right) and isinstance(left, (str, list)):
                return left + right
            raise self.fail(node, "a + of anything but two strings or two lists")
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"a {type(node).__name__} expression")

    def call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.functions:
            raise self.fail(node, "a call of anything but an allowed import")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            raise self.fail(node, "a call with * or ** arguments")
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords}
        try:
            return self.functions[node.func.id](*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise self.fail(node, f"{node.func.id}(): {exc}") from None


def read_data(path: Path) -> dict[str, Any]:
    """The names a profile file assigns, with their values; the file is never executed.

    Raises OSError when the file cannot be read, SyntaxError when it does not parse and
    :class:`DataFileError` for a construct a data file may not use.
    """
    source = Path(path).read_text()
    tree = ast.parse(source, filename=str(path))
    reader = _Reader()
    for index, node in enumerate(tree.body):
        try:
            reader.statement(node, first=index == 0)
        except (TypeError, RecursionError) as exc:  # {[1]: 2}, a nesting too deep
            raise reader.fail(node, f"a value that cannot be built ({exc})") from None
    return dict(reader.names)
