"""What one call of the python worker used: the worker's part of AttemptUsage (libs/protocol/src/usage.ts).

The worker runs one task at a time, so what its process uses during a call is the task's:
- wall time: time.monotonic() from the call's start to its end;
- CPU time: user + system time of the worker (resource.getrusage(RUSAGE_SELF), every thread) plus that of
  the child processes the call waited for (RUSAGE_CHILDREN: subprocess.run and the like);
- peak memory: the kernel's high-water mark of the worker's resident memory, reset at the call's start
  (writing "5" to /proc/self/clear_refs, Linux 4.0+) and read at its end (VmHWM in /proc/self/status), so
  it is this call's peak. Without /proc it is ru_maxrss, the process's lifetime peak (an upper bound).
Standard library only, like the rest of the worker.
"""

import os
import re
import sys
import time

try:
    import resource
except ImportError:  # not a POSIX system: CPU from process_time, no peak
    resource = None

HIGH_WATER = re.compile(rb"VmHWM:\s+(\d+) kB")
# ru_maxrss is in kilobytes on Linux, in bytes on macOS
MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


def _open(path, flags):
    try:
        return os.open(path, flags)
    except OSError:
        return None


def _cpu_seconds():
    if resource is None:
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Meter:
    """Measures the calls of this worker; the files of /proc stay open (descriptors are not inherited)."""

    def __init__(self):
        self.clear_refs = _open("/proc/self/clear_refs", os.O_WRONLY)
        self.status = _open("/proc/self/status", os.O_RDONLY) if self.clear_refs is not None else None

    def start(self):
        """Starts measuring a call; the function it returns ends it and gives the figures the agent expects."""
        reset = self._reset_peak()
        cpu = _cpu_seconds()
        started = time.monotonic()

        def end():
            wall_ms = max(0, int(round((time.monotonic() - started) * 1000)))
            cpu_ms = max(0, int(round((_cpu_seconds() - cpu) * 1000)))
            peak = (self._peak() if reset else None) or self._lifetime_peak()
            return {"wallMs": wall_ms, "cpuMs": cpu_ms, "maxRssBytes": peak}

        return end

    def _reset_peak(self):
        if self.clear_refs is None:
            return False
        try:
            os.write(self.clear_refs, b"5")
            return True
        except OSError:
            return False

    def _peak(self):
        if self.status is None:
            return None
        try:
            match = HIGH_WATER.search(os.pread(self.status, 4096, 0))
        except OSError:
            return None
        return int(match.group(1)) * 1024 if match else None

    @staticmethod
    def _lifetime_peak():
        if resource is None:
            return None
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * MAXRSS_UNIT
