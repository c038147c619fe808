"""Data by reference in fx-endpoint's Python worker: objects into arguments, large results into files.

The invocation's `objects` say where each object's content lies (a file the agent prepared) and where in
args/kwargs it goes: `bytes` objects become `bytes`, `json` objects the parsed value. The content is read
here from the file, never sent over the worker's pipe. A result that is bytes (bytes, bytearray,
memoryview), or whose JSON is larger than `inlineResultBytes`, or any result of a task with an
outputName (`resultToFile`), is written to the worker's result file, which the agent uploads as an object.
"""

import json
import os

from fx_worker_outcomes import failed

json_loads = json.loads


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
