"""Exercise cells that *Run All* skips unless the learner asks for them.

Every lesson ends with exercises whose worked solutions are code cells, collapsed until the learner
opens them. Some train models for minutes, and a learner who runs the lesson with *Run All* should
not pay for them. Each such cell starts with the cell magic ``%%exercise``; it runs the cell only
while the notebook's flag ``RUN_EXERCISES`` (set in the first code cell by :func:`setup`) is true,
and otherwise prints how to run it. The tests switch the flag on with ``BOOTCAMP_EXERCISES=1``, so
every worked solution is still executed by ``make test``.
"""

from __future__ import annotations

import ast
import os
from typing import Any

EXERCISES_ENV = "BOOTCAMP_EXERCISES"
FLAG_NAME = "RUN_EXERCISES"
SKIPPED_MESSAGE = (
    f"Exercise cell not run: {FLAG_NAME} is False (first code cell), so Run All skips the "
    f"exercises. Set {FLAG_NAME} = True (in any cell), then run this cell again."
)
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("", "0", "false", "no", "off")


def from_env() -> bool:
    """Return True when ``$BOOTCAMP_EXERCISES`` asks for the exercises to run (the tests set it)."""
    value = os.environ.get(EXERCISES_ENV, "").strip().lower()
    if value not in _TRUE_WORDS + _FALSE_WORDS:
        raise ValueError(f"{EXERCISES_ENV}={value!r}: use 1 (run the exercises) or 0 (skip them).")
    return value in _TRUE_WORDS


def setup() -> bool:
    """Register the ``%%exercise`` cell magic in the running IPython and return :func:`from_env`."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to register
        return from_env()
    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(exercise, magic_kind="cell", magic_name="exercise")
    return from_env()


def exercise(line: str, cell: str) -> Any:
    """Cell magic: run the cell when ``RUN_EXERCISES`` is true, else print how to run it."""
    from IPython import get_ipython

    shell = get_ipython()
    if FLAG_NAME not in shell.user_ns:
        raise NameError(f"{FLAG_NAME} is not set: run the notebook's first code cell first.")
    if not shell.user_ns[FLAG_NAME]:
        print(SKIPPED_MESSAGE)
        return None
    return run_in_namespace(shell.transform_cell(cell), shell.user_ns, shell.compile.cache)


def run_in_namespace(code: str, namespace: dict, register_source: Any = None) -> Any:
    """Execute code in namespace as a notebook cell does; return the last expression's value.

    A trailing semicolon hides the value, as in a cell. ``register_source(code)`` (IPython's
    ``compile.cache``) names the code so that a traceback shows its lines.
    """
    tree = ast.parse(code)
    last_value = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        last_value = ast.Expression(tree.body.pop().value)
    filename = register_source(code) if register_source else "<exercise>"
    exec(compile(tree, filename, "exec"), namespace)  # noqa: S102 - the learner's own cell
    if last_value is None:
        return None
    return eval(compile(last_value, filename, "eval"), namespace)  # noqa: S307 - as above
