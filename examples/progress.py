"""Progress from a running task (docs/live.md): the function emits as it goes, the caller prints what arrives.

    FX_URL=... FX_TOKEN=... FX_ENDPOINT=my-endpoint python3 examples/progress.py
"""

import os

from fx_sdk import Client


def squares(n):
    import time

    import fx_sdk

    total = 0
    for i in range(1, n + 1):
        total += i * i
        fx_sdk.emit({"done": i, "of": n})  # values sent faster than the agent flushes are coalesced: the latest travels
        time.sleep(0.01)
    return total


with Client() as client:
    task = client.run(client.register_function(squares, name="squares"), os.environ["FX_ENDPOINT"], args=(100,))
    for event in client.progress(task, timeout=120):  # ends when the task is final
        print(f"{event.value['done']}/{event.value['of']}")
    print("result", client.get_result(task, timeout=60))
