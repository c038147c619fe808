"""Data by reference in fx-endpoint's Python worker: objects into arguments, large results into files.

The invocation's `objects` say where each object's content lies (a file the agent prepared) and where in
args/kwargs it goes: `bytes` objects become `bytes`, `json` objects the parsed value. The content is read
here from the file, never sent over the worker's pipe. A result that is bytes (bytes, bytearray,
memoryview), or whose JSON is larger than `inlineResultBytes`, or any result of a task with an
outputName (`resultToFile`), is written to the worker's result file, which the agent uploads as an object.
Named outputs (`fx_sdk.output(name, data)` in a task) are written to files likewise and listed in the
outcome's `namedOutputs`; the agent stores them, with the task's id and their names, before the result.
"""

import importlib
import importlib.util
import json
import os
import re
import sys
import threading
import types

from fx_worker_outcomes import failed, json_problem

json_loads, json_dumps = json.loads, json.dumps


class ObjectUnavailable(Exception):
    """An object's content could not be read: the task fails OBJECT_UNAVAILABLE with this message."""


def result_name(task_id):
    """The one name the agent accepts for a task's result file (providers/local/worker.outcome.ts)."""
    return "fx-result-%s" % task_id


def load_objects(args, kwargs, placements):
    """Puts each object's content at its place in args/kwargs (in place); each file is read once."""
    read = {}
    for placement in placements or ():
        path = placement["file"]
        if path not in read:
            try:
                with open(path, "rb") as f:
                    read[path] = f.read()
            except OSError as error:
                raise ObjectUnavailable("object %s could not be read from %s: %s" % (placement["id"], path, error))
        data = read[path]
        if placement["encoding"] == "json":
            try:
                value = json_loads(data.decode("utf-8"))
            except ValueError as error:
                raise ObjectUnavailable("object %s is stored as json but is not valid JSON: %s" % (placement["id"], error))
        else:
            value = data
        set_at(args, kwargs, placement["at"], value)


def set_at(args, kwargs, at, value):
    holder = args if at[0] == "args" else kwargs
    for key in at[1:-1]:
        holder = holder[key]
    holder[at[-1]] = value


def is_bytes(value):
    return isinstance(value, (bytes, bytearray, memoryview))


def unavailable(message):
    return failed("OBJECT_UNAVAILABLE", "ObjectUnavailable", message)


def write_result(data, encoding, path, max_bytes):
    """The outcome of a result written to `path`: the agent stores it as an object of this encoding."""
    if len(data) > max_bytes:
        return failed("RESULT_TOO_LARGE", "ResultTooLarge", "the result is %d bytes, more than the %d bytes this endpoint stores" % (len(data), max_bytes))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as error:
        return unavailable("the result could not be written: %s" % error)
    return {"ok": True, "file": os.path.basename(path), "encoding": encoding, "size": len(data)}


def bytes_outcome(value, invocation, path):
    """A bytes result as a file; None when results cannot become objects here (the JSON check then refuses it)."""
    if invocation.get("inlineResultBytes") is None or path is None:
        return None
    return write_result(bytes(value) if not isinstance(value, bytes) else value, "bytes", path, invocation["maxResultBytes"])


def spill(outcome, invocation, path):
    """A JSON outcome moved to a file when it is too large to travel inline, or the task wants every result stored."""
    inline = invocation.get("inlineResultBytes")
    if inline is None or path is None or not outcome.get("ok") or "json" not in outcome:
        return outcome
    data = outcome["json"].encode("utf-8")
    if not invocation.get("resultToFile") and len(data) <= inline:
        return outcome
    return write_result(data, "json", path, invocation["maxResultBytes"])


# Object names as the protocol defines them (libs/protocol objects.ts ObjectName).
NAME = re.compile(r"^(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9._+=@-]+(?:/[A-Za-z0-9._+=@-]+)*$")
MAX_NAME_CHARS = 1024
MAX_OUTPUTS = 1000


class Outputs:
    """Named outputs (`fx_sdk.output(name, data)`) of the task running now, written to files for the agent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.task = None

    def begin(self, task_id, directory, max_bytes):
        with self.lock:
            self.task = {"id": task_id, "dir": directory, "max": max_bytes, "written": {}, "bytes": 0}

    def end(self):
        """What the task wrote, in the order first written; fx_sdk.output refuses from now on."""
        with self.lock:
            task, self.task = self.task, None
        return list(task["written"].values()) if task else []

    def output(self, name, data):
        """Stores `data` (bytes as they are, anything else as JSON) as an object named `name` once the task succeeds."""
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not NAME.match(name):
            raise ValueError('fx_sdk.output: %r is not an object name (a path-like key such as "output/part-1.csv")' % (name,))
        if is_bytes(data):
            content, encoding = bytes(data), "bytes"
        else:
            problem = json_problem(data, "data", 0, set())
            if problem:
                raise TypeError("fx_sdk.output: the data cannot be stored as JSON: " + problem)
            content, encoding = json_dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8"), "json"
        with self.lock:
            task = self.task
            if task is None:
                raise RuntimeError("fx_sdk.output works only while a task runs on an FX endpoint")
            previous = task["written"].get(name)
            if previous is None and len(task["written"]) >= MAX_OUTPUTS:
                raise ValueError("fx_sdk.output: a task may write at most %d named outputs" % MAX_OUTPUTS)
            total = task["bytes"] - (previous["size"] if previous else 0) + len(content)
            if total > task["max"]:
                raise ValueError("fx_sdk.output: the task's outputs would exceed the %d bytes this endpoint stores" % task["max"])
            file = previous["file"] if previous else "fx-output-%s-%d" % (task["id"], len(task["written"]))
            fd = os.open(os.path.join(task["dir"], file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            task["bytes"] = total
            task["written"][name] = {"name": name, "file": file, "encoding": encoding, "size": len(content)}


def install_sdk(output, emit):
    """Makes `fx_sdk.output` and `fx_sdk.emit` what tasks call: on the real SDK when this Python has it, else on a module of its own."""
    module = None
    try:
        if importlib.util.find_spec("fx_sdk") is not None:
            module = importlib.import_module("fx_sdk")
    except Exception:  # a broken install: tasks still get output()
        module = None
    if module is None:
        module = types.ModuleType("fx_sdk")
        module.__doc__ = "fx-endpoint's stand-in for the FX SDK inside a task: output(name, data) and emit(value) only."
        sys.modules["fx_sdk"] = module
    module.output = output
    module.emit = emit
