"""What fx-endpoint reports of its Python: run by the agent exactly as a python worker is started
(same interpreter, sandbox, user and environment), so it sees what tasks will see.

Prints one JSON object: {"version", "executable", "distributions": {"count", "sha256"}}. The digest is
sha256 over the sorted, distinct "Name==version" lines of importlib.metadata.distributions() joined
by "\\n" (UTF-8): two interpreters with the same installed packages agree on it. Standard library only;
a Python too old for importlib.metadata (< 3.8) still answers, without "distributions".
"""

import hashlib
import json
import platform
import sys


def distributions():
    try:
        from importlib import metadata
    except ImportError:
        return None
    lines = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # a broken install (no METADATA) has no name: nothing to tell apart
            lines.add("%s==%s" % (name, dist.version))
    ordered = sorted(lines)
    return {"count": len(ordered), "sha256": hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()}


if __name__ == "__main__":
    report = {"version": platform.python_version(), "executable": sys.executable}
    found = distributions()
    if found is not None:
        report["distributions"] = found
    sys.stdout.write(json.dumps(report) + "\n")
