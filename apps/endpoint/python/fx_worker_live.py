"""Live streams of fx-endpoint's Python worker: `fx_sdk.emit(value)` and what the running task prints.

Throttled: an emit only replaces the latest value (and counts), printed text is gathered, and a thread
sends what is pending at most every FLUSH_S as one `live` message; `end()` sends the rest before the
task's `done`. A burst of emits therefore costs the channel one message per FLUSH_S, not one per emit.
"""

import codecs
import json
import threading
import time

FLUSH_S = 0.05
# libs/protocol live.ts MAX_PROGRESS_VALUE_BYTES
MAX_VALUE_BYTES = 16 * 1024
# Text gathered beyond this is sent at once rather than waiting for the flush.
MAX_PENDING_CHARS = 256 * 1024

json_dumps = json.dumps


class Live:
    def __init__(self, channel):
        self.channel = channel
        self.lock = threading.Lock()
        self.task = None
        self.count = 0
        self.latest = None
        self.logs = []
        self.pending_chars = 0
        self.decoders = {}
        self.wake = threading.Event()
        threading.Thread(target=self.loop, daemon=True).start()

    def begin(self, task_id):
        with self.lock:
            self.task, self.count, self.latest, self.logs, self.pending_chars = task_id, 0, None, [], 0
            self.decoders = {"stdout": codecs.getincrementaldecoder("utf-8")("replace"), "stderr": codecs.getincrementaldecoder("utf-8")("replace")}

    def end(self):
        """Sends what is pending; emits and prints after this are dropped (until the next task)."""
        with self.lock:
            for stream, decoder in self.decoders.items():
                rest = decoder.decode(b"", final=True)
                if rest:
                    self.logs.append({"stream": stream, "at": now_ms(), "text": rest})
            self.send_locked()
            self.task = None

    def emit(self, value):
        """Reports `value` (JSON-serialisable) as the running task's latest progress."""
        try:
            text = json_dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as error:
            raise TypeError("fx_sdk.emit: the value cannot travel as JSON: %s" % error) from None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_VALUE_BYTES:
            text = json_dumps({"$fx": "progress-too-large", "bytes": size})
        with self.lock:
            if self.task is None:
                raise RuntimeError("fx_sdk.emit works only while a task runs on an FX endpoint")
            self.count += 1
            self.latest = {"seq": self.count, "at": now_ms(), "json": text}
        self.wake.set()

    def printed(self, stream, data):
        """Bytes the task wrote to fd 1 or 2 (from the capture's drain threads)."""
        with self.lock:
            if self.task is None:
                return
            text = self.decoders[stream].decode(data)
            if not text:
                return
            self.logs.append({"stream": stream, "at": now_ms(), "text": text})
            self.pending_chars += len(text)
            if self.pending_chars >= MAX_PENDING_CHARS:
                self.send_locked()
                return
        self.wake.set()

    def loop(self):
        while True:
            self.wake.wait()
            time.sleep(FLUSH_S)
            self.wake.clear()
            with self.lock:
                self.send_locked()

    def send_locked(self):
        if self.task is None or (self.latest is None and not self.logs):
            return
        message = {"type": "live", "taskId": self.task}
        if self.latest is not None:
            message["progress"] = self.latest
        if self.logs:
            message["logs"] = self.logs
        self.latest, self.logs, self.pending_chars = None, [], 0
        try:
            self.channel.send(message)
        except Exception:  # the agent is gone: the worker's reader ends it
            pass


def now_ms():
    return time.time() * 1000.0
