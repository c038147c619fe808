"""Outcomes of fx-endpoint's Python worker: results checked for JSON faithfulness, exceptions as errors."""

import json
import math
import os
import traceback

# Held here: a task that patches the json module (its own business) must not garble what the worker sends.
json_dumps = json.dumps
# Results travel as JSON to JavaScript: integers beyond 2**53 would arrive changed.
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 128
# The server keeps 16 KiB of a stack, from its start; the end of a traceback says the most.
MAX_STACK_CHARS = 12000
# The modules the worker makes of function sources: their classes are named without a module.
MODULE_PREFIX = "fx_function_"
# The worker's own files, whose frames come before the user's in every traceback.
WORKER_DIR = os.path.dirname(os.path.abspath(__file__))


class EntrypointError(Exception):
    """The source defines no callable of the entry point's name."""


def json_problem(value, path, depth, ancestors):
    """Why `value` would not arrive as the same value through JSON, or None."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            return "%s: %d is beyond 2**53 and would not arrive exactly (JSON numbers are doubles); pass it as a string" % (path, value)
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "%s: %r is not a JSON number; use None or a string" % (path, value)
        return None
    if depth >= MAX_DEPTH:
        return "%s: the value is nested more than %d levels deep" % (path, MAX_DEPTH)
    if id(value) in ancestors:
        return "%s: the value refers to itself (a cycle); JSON cannot carry cycles" % path
    ancestors.add(id(value))
    try:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                problem = json_problem(item, "%s[%d]" % (path, i), depth + 1, ancestors)
                if problem:
                    return problem
            return None
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return "%s: the key %r is a %s; JSON object keys are strings" % (path, key, type(key).__name__)
                where = "%s.%s" % (path, key) if key.isidentifier() else "%s[%s]" % (path, json_dumps(key))
                problem = json_problem(item, where, depth + 1, ancestors)
                if problem:
                    return problem
            return None
    finally:
        ancestors.discard(id(value))
    kind = type(value)
    hint = " (convert it: .tolist() for an array, .item() or float() for a scalar)" if kind.__module__.split(".")[0] == "numpy" else " (convert it to plain data: dict, list, str, int, float, bool, None)"
    return "%s: a %s is not a JSON value%s" % (path, qualified_name(kind), hint)


def result_outcome(value, max_bytes):
    problem = json_problem(value, "result", 0, set())
    if problem:
        return failed("TASK_ERROR", "ResultNotSerializable", "the result cannot travel as JSON: " + problem)
    text = json_dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        return failed("TASK_ERROR", "ResultNotSerializable", "the result cannot travel as JSON: a string holds a lone surrogate (%s)" % error.reason)
    if size > max_bytes:
        return failed("RESULT_TOO_LARGE", "ResultTooLarge", "the result is %d bytes as JSON, more than the %d bytes allowed" % (size, max_bytes))
    return {"ok": True, "json": text}


def failed(code, name, message, stack=None):
    error = {"code": code, "name": name, "message": message}
    if stack:
        error["stack"] = stack
    return {"ok": False, "error": error}


def qualified_name(kind):
    """`ValueError` for builtins and the user's own classes; `module.Name` for others (numpy.linalg.LinAlgError)."""
    module = getattr(kind, "__module__", "builtins") or "builtins"
    if module == "builtins" or module.startswith(MODULE_PREFIX):
        return kind.__qualname__
    return "%s.%s" % (module, kind.__qualname__)


def user_frames(tb):
    """The traceback without the worker's own frames (which come first: they called the user's code)."""
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == WORKER_DIR:
        tb = tb.tb_next
    return tb


def error_outcome(error):
    seen = set()
    chained = error
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        chained.__traceback__ = user_frames(chained.__traceback__)
        chained = chained.__cause__ or chained.__context__
    try:
        message = str(error)
    except Exception:
        message = repr(error)
    if isinstance(error, EntrypointError):
        return failed("TASK_ERROR", "EntrypointNotFound", message)
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if len(stack) > MAX_STACK_CHARS:
        stack = stack[:3000] + "\n  ... [%d characters of traceback left out] ...\n" % (len(stack) - MAX_STACK_CHARS) + stack[-(MAX_STACK_CHARS - 3000):]
    return failed("TASK_ERROR", qualified_name(type(error)), message, stack)


def interrupted():
    return failed("TASK_CANCELLED", "KeyboardInterrupt", "the task was interrupted (walltime or cancel)")
