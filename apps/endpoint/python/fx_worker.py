"""fx-endpoint's Python worker: runs the python functions the agent sends it, one task at a time.

Started by the agent's worker pool (never by hand) with the interpreter of `python:` in config.yaml.
Standard library only, Python 3.8 or newer. The agent and this worker speak newline-delimited JSON over
fd 3; stdout and stderr belong to the tasks: each task's output is captured at the file-descriptor
level (so that subprocesses and C extensions are caught too) and returned, bounded, with its outcome.

Parent -> worker: {"type": "run", "taskId", "invocation": {source, entrypoint, contentHash, args, kwargs,
pickledArgs?, maxResultBytes, inlineResultBytes?, resultToFile?, objects?}, "queued"?, "priority"?} (pickledArgs: see
fx_worker_serializers.py; objects and result files: fx_worker_objects.py), {"type": "drop", "taskId"},
{"type": "interrupt", "taskId"}. The waiting task of highest priority runs next, first sent first within one.
Worker -> parent: {"type": "ready", "runtime"}, {"type": "started", "taskId"} (for queued tasks),
{"type": "done", "taskId", "outcome": {"ok": true, "json"} | {"ok": true, "file", "encoding", "size"} | {"ok": false, "error"}, "output"?, "usage"},
{"type": "dropped", "taskId", "skipped"}.
"""

import collections
import json
import linecache
import os
import platform
import signal
import sys
import threading
import types

from fx_worker_capture import Capture
from fx_worker_live import Live
from fx_worker_outcomes import MODULE_PREFIX, EntrypointError, error_outcome, interrupted, result_outcome
from fx_worker_usage import Meter
from fx_worker_objects import Outputs, ObjectUnavailable, bytes_outcome, install_sdk, is_bytes, load_objects, result_name, spill, unavailable
import fx_worker_serializers as serializers

WORKER_DIR = os.path.dirname(os.path.abspath(__file__))
# Held here: a task that patches the json module (its own business) must not garble the channel.
json_dumps, json_loads = json.dumps, json.loads
MODULE_CACHE_SIZE = 64


def options(argv):
    parsed = {"--fd": 3, "--output-lines": 1000, "--output-bytes": 1024 * 1024}
    for name, value in zip(argv[::2], argv[1::2]):
        if name in parsed:
            parsed[name] = int(value)
    return parsed


class Channel:
    """Newline-delimited JSON on one socket; sends may come from two threads."""

    def __init__(self, fd):
        os.set_inheritable(fd, False)  # not passed on to the tasks' subprocesses
        self.fd = fd
        self.lock = threading.Lock()
        self.reader = os.fdopen(os.dup(fd), "rb")

    def send(self, message):
        line = json_dumps(message, ensure_ascii=False, separators=(",", ":"))
        try:
            data = (line + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from surrogateescape): escaped instead
            data = (json_dumps(message, separators=(",", ":")) + "\n").encode("ascii")
        with self.lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]

    def messages(self):
        for line in self.reader:
            yield json_loads(line)


class State:
    """The tasks this worker holds: the one running (`current`) and those waiting, in the order they run."""

    def __init__(self):
        self.cond = threading.Condition()
        self.waiting = collections.deque()
        self.current = None
        # The task an interrupt was asked for. The SIGINT handler raises only while that task's own code runs
        # (`in_user`), never while the worker talks to the agent; `interrupted` names the task it stopped.
        self.interrupt_for = None
        self.in_user = False
        self.interrupted = None

def enqueue(waiting, task):
    """After every waiting task of a priority at least as high (the agent's priority-order.ts keeps its copy so)."""
    priority = task.get("priority", 5)
    index = len(waiting)
    while index > 0 and waiting[index - 1].get("priority", 5) < priority:
        index -= 1
    waiting.insert(index, task)


class Functions:
    """Each source runs once, as a module of its own, and its entry point is kept (LRU, by content hash)."""

    def __init__(self):
        self.cache = collections.OrderedDict()

    def get(self, invocation):
        # the content hash covers the entry point; keyed by both all the same, whatever the agent is sent
        key = (invocation["contentHash"], invocation["entrypoint"])
        entry = self.cache.get(key)
        if entry is not None:
            self.cache.move_to_end(key)
            return entry[1]
        name = MODULE_PREFIX + invocation["contentHash"][:12]
        filename = "fx-function-%s.py" % invocation["contentHash"][:12]
        source = invocation["source"]
        # tracebacks quote the user's lines from here (an mtime of None keeps the entry in the cache)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType(name)
        module.__file__ = filename
        sys.modules[name] = module
        try:
            exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
            function = module.__dict__.get(invocation["entrypoint"])
            if not callable(function):
                defined = sorted(k for k, v in module.__dict__.items() if callable(v) and not k.startswith("_") and not isinstance(v, types.ModuleType))
                raise EntrypointError(
                    'the source defines no function "%s" at its top level%s'
                    % (invocation["entrypoint"], " (it defines: %s)" % ", ".join(defined[:20]) if defined else "")
                )
        except BaseException:
            sys.modules.pop(name, None)
            linecache.cache.pop(filename, None)
            raise
        self.cache[key] = (name, function)
        if len(self.cache) > MODULE_CACHE_SIZE:
            _, (old, _) = self.cache.popitem(last=False)
            if all(kept != old for kept, _ in self.cache.values()):
                sys.modules.pop(old, None)
                linecache.cache.pop("fx-function-%s.py" % old[len(MODULE_PREFIX):], None)
        return function

class Worker:
    def __init__(self, argv):
        opts = options(argv)
        self.channel = Channel(opts["--fd"])
        self.output_lines = opts["--output-lines"]
        self.output_bytes = opts["--output-bytes"]
        self.state = State()
        self.functions = Functions()
        # The worker's own directory (tasks may chdir): result files go there, where the agent looks.
        self.result_dir = os.getcwd()
        self.outputs = Outputs()
        self.live = Live(self.channel)
        # what each call uses (fx_worker_usage.py): one task at a time, so the process's figures are the task's
        self.meter = Meter()
        install_sdk(self.outputs.output, self.live.emit)
        # a line printed is a line the live logs show now, not when a pipe's buffer fills
        try:
            sys.stdout.reconfigure(line_buffering=True)
        except Exception:
            pass
        self.main_thread = threading.main_thread().ident
        # A pipe would make print() block-buffered: line by line, it interleaves with subprocesses' output.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass

    def on_sigint(self, signum, frame):
        # Only an interrupt the agent asked for, while the code of the task it was for runs; anything else
        # (a Ctrl-C to the agent's process group, a late one) is ignored: the agent decides what stops.
        if self.state.in_user:
            self.stop_if_asked()

    def stop_if_asked(self):
        state = self.state
        if state.interrupt_for is not None and state.interrupt_for == state.current:
            state.interrupt_for = None
            state.interrupted = state.current
            raise KeyboardInterrupt

    def read(self):
        state = self.state
        try:
            for message in self.channel.messages():
                kind, task_id = message.get("type"), message.get("taskId")
                with state.cond:
                    if kind == "run":
                        enqueue(state.waiting, message)
                        state.cond.notify()
                    elif kind in ("drop", "interrupt"):
                        index = next((i for i, t in enumerate(state.waiting) if t["taskId"] == task_id), None)
                        if index is not None:
                            del state.waiting[index]
                        if kind == "drop":
                            self.channel.send({"type": "dropped", "taskId": task_id, "skipped": index is not None})
                        elif index is not None:
                            self.channel.send({"type": "done", "taskId": task_id, "outcome": interrupted()})
                        elif state.current == task_id:
                            state.interrupt_for = task_id
                            signal.pthread_kill(self.main_thread, signal.SIGINT)
        except Exception as error:  # a broken channel: the agent is gone or confused
            sys.stderr.write("fx-endpoint python worker %d: %s\n" % (os.getpid(), error))
        # The agent closed the channel (stop, crash): nobody is left to report to.
        os._exit(0)

    def execute(self, task):
        invocation, state = task["invocation"], self.state
        capture = Capture(self.output_lines, self.output_bytes, self.live.printed)
        self.live.begin(task["taskId"])
        measured = self.meter.start()
        outcome = None
        # the task may have replaced the handler: every task starts with the worker's own
        signal.signal(signal.SIGINT, self.on_sigint)
        try:
            with capture:
                try:
                    state.in_user = True
                    self.stop_if_asked()  # an interrupt that came before the task's code began
                    function = self.functions.get(invocation)
                    pickled = invocation.get("pickledArgs")
                    path = os.path.join(self.result_dir, result_name(task["taskId"]))
                    self.outputs.begin(task["taskId"], self.result_dir, invocation["maxResultBytes"] if invocation.get("inlineResultBytes") is not None else 0)
                    if pickled is None:
                        args, kwargs = invocation["args"], invocation["kwargs"]
                        load_objects(args, kwargs, invocation.get("objects"))
                        value = function(*args, **kwargs)
                        state.in_user = False
                        outcome = (is_bytes(value) and bytes_outcome(value, invocation, path)) or spill(
                            result_outcome(value, invocation["maxResultBytes"]), invocation, path
                        )
                    else:
                        args, kwargs, pickler = serializers.load_arguments(pickled)
                        value = function(*args, **kwargs)
                        state.in_user = False
                        outcome = spill(serializers.result_outcome(value, pickler, function, invocation["maxResultBytes"]), invocation, path)
                except ObjectUnavailable as error:
                    outcome = unavailable(str(error))
                except KeyboardInterrupt as error:
                    outcome = interrupted() if state.interrupted == task["taskId"] else error_outcome(error)
                except serializers.Refused as refused:
                    outcome = refused.outcome
                except BaseException as error:  # SystemExit too: sys.exit() in a task ends the task, not the worker
                    outcome = error_outcome(error)
                finally:
                    state.in_user = False
                    state.current = None
                    named = self.outputs.end()
                    if named and outcome is not None and outcome.get("ok"):
                        outcome["namedOutputs"] = named
                    else:  # a failed task stores none of its outputs
                        for output in named:
                            try:
                                os.unlink(os.path.join(self.result_dir, output["file"]))
                            except OSError:
                                pass
        except KeyboardInterrupt:
            outcome = None
        state.in_user = False
        state.current = None
        if outcome is None:
            outcome = interrupted()
        outcome["usage"] = measured()
        # after the capture's drains: everything printed is in, and goes before `done`
        self.live.end()
        output = capture.output()
        if output:
            outcome["output"] = output
        return outcome

    def run(self):
        signal.signal(signal.SIGINT, self.on_sigint)
        threading.Thread(target=self.read, daemon=True).start()
        self.channel.send({"type": "ready", "runtime": {"version": platform.python_version(), "executable": sys.executable}})
        state = self.state
        while True:
            with state.cond:
                while not state.waiting:
                    state.cond.wait()
                task = state.waiting.popleft()
                state.current = task["taskId"]
            if task.get("queued"):
                self.channel.send({"type": "started", "taskId": task["taskId"]})
            outcome = self.execute(task)
            self.channel.send({"type": "done", "taskId": task["taskId"], "outcome": outcome})


def main():
    # The worker's own directory is not the tasks' business (nor importable by them).
    if sys.path and os.path.abspath(sys.path[0] or ".") == WORKER_DIR:
        del sys.path[0]
    try:
        os.fstat(options(sys.argv[1:])["--fd"])
    except OSError:
        sys.stderr.write("this is an fx-endpoint worker; it is started by the agent, not by hand\n")
        sys.exit(2)
    Worker(sys.argv[1:]).run()


if __name__ == "__main__":
    main()
