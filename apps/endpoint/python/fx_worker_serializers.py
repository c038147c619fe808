"""The `pickle` serializer of fx-endpoint's Python worker: pickled arguments in, a pickled result out.

A pickle task's invocation carries `pickledArgs` = {"$fx": "pickle", "python": "3.11", "pickler":
"cloudpickle" | "pickle", "data": base64 of pickle((args, kwargs))}. A pickle is read only by the Python
major.minor that wrote it: another version is refused (SERIALIZER_MISMATCH, naming both) before a byte
is unpickled, so a mismatch is a sentence and never a crashed worker. The result goes back pickled with
the same pickler, as the same kind of tagged object, which the server stores as any JSON result.
cloudpickle is used when this Python has it (imported with the first pickle task); the stdlib otherwise.
"""

import base64
import json
import pickle
import sys

from fx_worker_outcomes import failed, qualified_name

PYTHON = "%d.%d" % sys.version_info[:2]
TAG = "$fx"
# Held here: a task that patches the json module (its own business) must not garble what the worker sends.
json_dumps = json.dumps
_cloudpickle = None


class Refused(Exception):
    """The task cannot run with these pickled arguments; `outcome` is its failure."""

    def __init__(self, outcome):
        super().__init__(outcome["error"]["message"])
        self.outcome = outcome


def cloudpickle():
    """The cloudpickle module when this Python has it, else None (looked for once)."""
    global _cloudpickle
    if _cloudpickle is None:
        try:
            import cloudpickle as found
        except Exception:  # absent, or broken: the stdlib pickle then
            found = False
        _cloudpickle = found
    return _cloudpickle or None


def mismatch(message):
    return Refused(failed("SERIALIZER_MISMATCH", "SerializerMismatch", message))


def where():
    return "this endpoint's python worker (Python %s, %s)" % (PYTHON, sys.executable)


def load_arguments(pickled):
    """`(args, kwargs, pickler)` of a pickle task, or Refused with the reason it cannot run here."""
    theirs, pickler = str(pickled.get("python")), str(pickled.get("pickler"))
    if theirs != PYTHON:
        raise mismatch(
            "the arguments were pickled by Python %s, and %s cannot read a pickle of another Python version; "
            "submit with serializer='json', or run the endpoint with Python %s (`python:` in its config.yaml)" % (theirs, where(), theirs)
        )
    try:
        loaded = pickle.loads(base64.b64decode(pickled["data"]))
    except ModuleNotFoundError as error:
        if pickler == "cloudpickle" and (error.name or "").split(".")[0] == "cloudpickle":
            raise mismatch(
                "the arguments were pickled with cloudpickle, which %s does not have; install cloudpickle for it, "
                "or submit with serializer='json'" % where()
            )
        raise not_loadable(error, pickler)
    except Exception as error:  # a missing attribute, a bad pickle, a __setstate__ that raised...
        raise not_loadable(error, pickler)
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 2 and isinstance(loaded[0], (tuple, list)) and isinstance(loaded[1], dict)):
        raise Refused(failed("TASK_ERROR", "PickledArgumentsInvalid", "the pickled arguments are not an (args, kwargs) pair"))
    if not all(isinstance(key, str) for key in loaded[1]):
        raise Refused(failed("TASK_ERROR", "PickledArgumentsInvalid", "the pickled kwargs have a key that is not a string"))
    return loaded[0], loaded[1], pickler


def not_loadable(error, pickler):
    return Refused(
        failed(
            "TASK_ERROR",
            qualified_name(type(error)),
            "the task's pickled arguments (%s) could not be loaded by %s: %s; everything they refer to must be importable "
            "there (install the module for the endpoint's Python), or pass plain data" % (pickler, where(), error),
        )
    )


def result_outcome(value, pickler, function, max_bytes):
    """The result pickled with the pickler the arguments came in (cloudpickle only if this Python has it)."""
    module = cloudpickle() if pickler == "cloudpickle" else None
    if module is not None:
        # Classes and functions of the function's own source are a module only this worker has: by value.
        source_module = sys.modules.get(getattr(function, "__module__", None) or "")
        if source_module is not None and hasattr(module, "register_pickle_by_value"):
            module.register_pickle_by_value(source_module)
    used = "cloudpickle" if module is not None else "pickle"
    try:
        data = (module or pickle).dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        return failed("TASK_ERROR", "ResultNotSerializable", "the result cannot be pickled (%s): %s: %s" % (used, qualified_name(type(error)), error))
    envelope = {TAG: "pickle", "python": PYTHON, "pickler": used, "data": base64.b64encode(data).decode("ascii")}
    text = json_dumps(envelope, separators=(",", ":"))
    if len(text) > max_bytes:
        return failed("RESULT_TOO_LARGE", "ResultTooLarge", "the pickled result is %d bytes as JSON (base64), more than the %d bytes allowed" % (len(text), max_bytes))
    return {"ok": True, "json": text}
