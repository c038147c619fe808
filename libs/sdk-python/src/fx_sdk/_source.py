"""The source a Python function is registered with: its ``def``, decorators stripped, dedented."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import textwrap
from typing import Any, Callable, Tuple

from .errors import ValidationError


def _refuse(message: str) -> ValidationError:
    return ValidationError("VALIDATION_FAILED", message)


def python_source(fn: Callable[..., Any]) -> Tuple[str, str]:
    """``(source, entrypoint)`` of a plain function: the text of its ``def`` and its name.

    The endpoint runs the source in a fresh module and calls the entrypoint, so the function must be
    self-contained: imports inside it, no variables from an enclosing function (refused here), no
    helpers from its own module. Decorators are dropped (the endpoint calls the undecorated function);
    a function wrapped with ``functools.wraps`` is unwrapped first. A function with annotations is
    sent after ``from __future__ import annotations``, so its annotations are never evaluated there.
    """
    if isinstance(fn, functools.partial):
        raise _refuse("a functools.partial has no source of its own; register the function and pass the arguments to run()")
    target = inspect.unwrap(fn)
    if inspect.ismethod(target):
        raise _refuse(f"{target.__qualname__} is a bound method; register a plain function (def at the top of a module or cell)")
    if not inspect.isfunction(target):
        raise _refuse(f"expected a function defined with def, got {type(fn).__name__}")
    if target.__name__ == "<lambda>":
        raise _refuse("a lambda has no name for the endpoint to call; define the function with def")
    if target.__code__.co_freevars:
        names = ", ".join(target.__code__.co_freevars)
        raise _refuse(f"{target.__qualname__} uses variables of the function around it ({names}); they do not travel, pass them as arguments")
    try:
        lines, _ = inspect.getsourcelines(target)
    except (OSError, TypeError) as err:
        raise _refuse(f"the source of {target.__qualname__} is not available ({err}); define it in a file or a notebook cell") from err
    text = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise _refuse(f"could not isolate the source of {target.__qualname__}: {err}") from err
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.AsyncFunctionDef):
        raise _refuse(f"{target.__qualname__} is async; the python runtime calls plain functions")
    if not isinstance(node, ast.FunctionDef) or node.name != target.__name__:
        raise _refuse(f"could not isolate the def of {target.__qualname__} in its source")
    # node.lineno is the `def` line: the decorators above it are left out
    source = "".join(text.splitlines(keepends=True)[node.lineno - 1 :]).rstrip() + "\n"
    if _annotated(node):
        # annotations name things of the caller's module (List, np.ndarray) that the endpoint's fresh
        # module lacks; postponed (PEP 563), they stay strings and are never looked up
        source = "from __future__ import annotations\n\n" + source
    return source, target.__name__


def _annotated(node: ast.FunctionDef) -> bool:
    a = node.args
    every = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []), *([a.kwarg] if a.kwarg else [])]
    return node.returns is not None or any(arg.annotation is not None for arg in every)


def source_digest(source: str) -> str:
    """Short, stable digest of a source, so names derived from it are the same on every run."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
