"""Output capture of fx-endpoint's Python worker: fds 1 and 2 of one task into bounded tails."""

import collections
import os
import sys
import threading


class Tail:
    """The last `max_lines` lines and at most `max_bytes` bytes of one stream."""

    def __init__(self, max_lines, max_bytes):
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.chunks = collections.deque()
        self.size = 0
        self.dropped = False
        self.lock = threading.Lock()

    def push(self, data):
        with self.lock:
            self.chunks.append(data)
            self.size += len(data)
            while self.size - len(self.chunks[0]) > self.max_bytes:
                self.size -= len(self.chunks.popleft())
                self.dropped = True

    def text(self):
        with self.lock:
            data = b"".join(self.chunks)
            dropped = self.dropped
        if len(data) > self.max_bytes:
            data = data[-self.max_bytes:]
            dropped = True
        lines = data.split(b"\n")
        ending = lines[-1] == b""
        if ending:
            lines.pop()
        if len(lines) > self.max_lines:
            lines = lines[-self.max_lines:]
            dropped = True
        text = b"\n".join(lines) + (b"\n" if ending and lines else b"")
        return text.decode("utf-8", "replace"), dropped


_fflush = []


def flush_c_streams():
    # printf() of a C extension waits in libc's buffer, which a pipe makes a full one.
    try:
        if not _fflush:
            import ctypes

            _fflush.append(ctypes.CDLL(None).fflush)
        _fflush[0](None)
    except Exception:
        _fflush.append(lambda _: None)


class Capture:
    """Points fds 1 and 2 at pipes for the length of one task; a thread per pipe keeps the tail."""

    def __init__(self, max_lines, max_bytes, printed=None):
        self.tails = [Tail(max_lines, max_bytes), Tail(max_lines, max_bytes)]
        # printed(stream, data): what the task writes, as it writes it (live logs)
        self.printed = printed
        self.threads = []
        self.saved = []

    def __enter__(self):
        self.streams = (sys.stdout, sys.stderr)
        for stream in self.streams:
            stream.flush()
        for fd, tail, stream in zip((1, 2), self.tails, ("stdout", "stderr")):
            self.saved.append(os.dup(fd))
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            live = (lambda data, stream=stream: self.printed(stream, data)) if self.printed else None
            thread = threading.Thread(target=drain, args=(read_end, tail, live), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(self, *exc):
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        flush_c_streams()
        # a task that replaced sys.stdout leaves no trace in the next one
        sys.stdout, sys.stderr = self.streams
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        # A subprocess the task left behind may still hold a pipe: what it wrote so far is what is kept.
        for thread in self.threads:
            thread.join(0.5)
        return False

    def output(self):
        (stdout, cut_out), (stderr, cut_err) = (tail.text() for tail in self.tails)
        if not stdout and not stderr:
            return None
        output = {"stdout": stdout, "stderr": stderr}
        if cut_out or cut_err:
            output["truncated"] = True
        return output


def drain(fd, tail, live=None):
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            tail.push(data)
            if live:
                live(data)
    finally:
        os.close(fd)
