"""``concurrent.futures.Executor`` on an FX endpoint: submit a function, get a future for its task."""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from ._batch import WireItem, check_priority
from ._poller import Delivery
from ._serializers import Serializer, argument_fields, check_serializer
from ._source import python_source, source_digest
from ._wire import endpoint_ref, function_ref, resource_name
from ._future import TaskFuture
from .client import Client
from .errors import FxError, PartialBatchError


class MapResults(Iterator[Any]):
    """What :meth:`Executor.map` returns: its results in input order; ``group`` is the map's task group id.

    ``close()`` (or dropping the last reference, as a ``break`` out of a ``for`` loop does) stops the
    map: what it has not yielded is cancelled.
    """

    def __init__(self, results: Iterator[Any], group: str) -> None:
        self._results = results
        self.group = group

    def __iter__(self) -> "MapResults":
        return self

    def __next__(self) -> Any:
        return next(self._results)

    def close(self) -> None:
        self._results.close()  # type: ignore[attr-defined]


@dataclass
class _Work:
    future: TaskFuture
    function: Optional[str]  # an id or name; None for a Python callable not registered yet
    source: Optional[Tuple[str, str, str]]  # (source, entrypoint, name) of a Python callable
    fields: Dict[str, Any]  # the arguments as the wire carries them: args and kwargs, or pickledArgs
    group: Optional[str] = None  # the task group it joins (a map's); None: the batch's own


class Executor(concurrent.futures.Executor):
    """Runs functions on one FX endpoint, as a ``concurrent.futures.Executor``.

    ``submit(fn, *args, **kwargs)`` takes a Python function (registered on first use, runtime
    ``python``, under ``<name>-<digest of its source>``) or the id or name of a registered function of
    any runtime. Submissions are gathered for ``batch_interval`` seconds (at most ``batch_size``) and
    sent as one batch by a background thread; the client's results thread resolves the futures.
    ``map`` is lazy and keeps the order of its inputs (see :meth:`map`). ``shutdown(wait=True)`` waits for every future;
    ``cancel_futures=True`` cancels the ones not finished (their FX tasks too). With
    ``serializer="pickle"`` arguments are pickled at ``submit`` and results unpickled (see ``Client.run``;
    ``trust_pickle=True`` for another user's function named by id or name).
    """

    def __init__(
        self,
        endpoint: str,
        client: Optional[Client] = None,
        *,
        batch_size: int = 1_000,
        batch_interval: float = 0.01,
        walltime_seconds: Optional[float] = None,
        resources: Optional[Mapping[str, Any]] = None,
        serializer: Serializer = "json",
        priority: Optional[int] = None,
        trust_pickle: bool = False,
    ) -> None:
        self.endpoint = endpoint_ref(endpoint)
        self.client = client if client is not None else Client()
        self._owns_client = client is None
        self._batch_size = max(1, batch_size)
        self._batch_interval = max(0.0, batch_interval)
        self._walltime_seconds = walltime_seconds
        self._resources = dict(resources) if resources is not None else None
        self._priority = check_priority(priority) if priority is not None else None
        self._serializer = check_serializer(serializer)
        self._trust_pickle = trust_pickle
        self._queue: "collections.deque[_Work]" = collections.deque()
        self._cond = threading.Condition()
        self._sender: Optional[threading.Thread] = None
        self._shutdown = False
        self._futures: "set[TaskFuture]" = set()
        self._sources: Dict[Callable[..., Any], Tuple[str, str, str]] = {}
        self._function_ids: Dict[Tuple[str, str], str] = {}

    def submit(self, fn: Union[Callable[..., Any], str], /, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[Any]":
        return self._submit(fn, args, kwargs, None)

    def map(  # type: ignore[override]
        self,
        fn: Union[Callable[..., Any], str],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
        speculation: Optional[Mapping[str, Any]] = None,
    ) -> "MapResults":
        """Like ``concurrent.futures.Executor.map``, lazily: ``fn(*args)`` for each tuple of the zipped iterables.

        At most ``buffersize`` (default: ``batch_size``) tasks are submitted and not yet yielded: the
        iterables are read only as results are taken, so they may be endless or larger than memory.
        Results come in input order; a failed task raises its exception there. The map's tasks form
        one task group (its id: the returned iterator's ``group``); when the consumer stops early (``break``, an exception,
        ``close()`` of the returned generator) every unfinished task of the map is cancelled and
        nothing more is submitted. ``chunksize`` is accepted for compatibility; batching follows
        ``batch_size`` and ``batch_interval``. ``speculation={"afterFactor": 3, "minSamples": 5}`` copies
        stragglers of an ``idempotent`` function (see :meth:`Client.batch_run`).
        """
        window = max(1, buffersize if buffersize is not None else self._batch_size)
        deadline = None if timeout is None else time.monotonic() + timeout
        group = self.client.create_group("map", speculation=speculation).id
        inputs = zip(*iterables)
        futures: Deque[TaskFuture] = collections.deque(self._submit(fn, args, {}, group) for args in itertools.islice(inputs, window))  # type: ignore[misc]
        return MapResults(self._map_results(fn, inputs, futures, group, deadline), group)

    def _map_results(self, fn: Any, inputs: Iterator[Tuple[Any, ...]], futures: "Deque[TaskFuture]", group: str, deadline: Optional[float]) -> Iterator[Any]:
        try:
            while futures:
                future = futures[0]
                value = future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
                futures.popleft()
                for args in itertools.islice(inputs, 1):
                    futures.append(self._submit(fn, args, {}, group))  # type: ignore[arg-type]
                yield value
        finally:
            if futures:
                # not sent yet: dropped here (one in flight is cancelled when it lands); the rest on the server
                for future in futures:
                    if future.task_id is None:
                        future.cancel()
                try:
                    self.client.group(group).cancel()
                except FxError:
                    pass  # the client was closed: its tasks run to the end

    def _submit(self, fn: Union[Callable[..., Any], str], args: Tuple[Any, ...], kwargs: Dict[str, Any], group: Optional[str]) -> TaskFuture:
        # a future among the args is waited for until the server has stored its task, and then travels
        # as a reference to that task's result
        fields = argument_fields(args, kwargs, self._serializer, trust_pickle=self._trust_pickle)
        if isinstance(fn, str):
            work = _Work(TaskFuture(self.client), function_ref(fn), None, fields, group)
        else:
            work = _Work(TaskFuture(self.client), None, self._source_of(fn), fields, group)
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(work)
            self._futures.add(work.future)
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="fx-sdk-executor", daemon=True)
                self._sender.start()
            self._cond.notify_all()
        work.future.add_done_callback(self._forget)
        return work.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._shutdown = True
            dropped = list(self._queue) if cancel_futures else []
            if cancel_futures:
                self._queue.clear()
            self._cond.notify_all()
            sender = self._sender
        for work in dropped:
            work.future.cancel()
        if cancel_futures:
            for future in list(self._futures):
                try:
                    future.cancel()
                except FxError:
                    pass  # the task finishes or fails on its own; its future says which
        if wait:
            if sender is not None:
                sender.join()
            concurrent.futures.wait(list(self._futures))
        self._close_client_when_idle()

    # ---- the sender thread ---------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._shutdown:
                    self._cond.wait()
                if not self._queue:
                    return
                # linger a moment so that a loop of submits travels as one batch
                deadline = time.monotonic() + self._batch_interval
                while len(self._queue) < self._batch_size and not self._shutdown:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                self._send(batch)
            except BaseException as err:  # never leave a future pending because this thread died
                for work in batch:
                    if not work.future.done() and work.future._notify_once():
                        work.future.set_exception(err)
                if not isinstance(err, Exception):
                    raise

    def _send(self, batch: List[_Work]) -> None:
        by_group: Dict[Optional[str], List[_Work]] = {}
        for work in batch:
            by_group.setdefault(work.group, []).append(work)
        for group, works in by_group.items():
            self._send_group(works, group)

    def _send_group(self, batch: List[_Work], group: Optional[str]) -> None:
        live: List[Tuple[_Work, str]] = []
        for work in batch:
            if work.future.cancelled():
                continue
            try:
                live.append((work, work.function or self._function_id(work.source)))  # type: ignore[arg-type]
            except FxError as err:
                if work.future._notify_once():
                    work.future.set_exception(err)
        if not live:
            return
        items = [WireItem(functionId=fid, **work.fields) for work, fid in live]
        error: Optional[FxError] = None
        try:
            ids = self.client.batch_run(self.endpoint, items, resources=self._resources, group=group, priority=self._priority)
        except PartialBatchError as err:
            ids, error = err.accepted_task_ids, err
        except FxError as err:
            ids, error = [], err
        watched: List[Tuple[str, Callable[[Delivery], None]]] = []
        for (work, _fid), tid in zip(live, ids):
            if work.future._attach(tid):
                watched.append((tid, work.future._settle))
            else:
                self._cancel_quietly(tid)  # cancelled while the batch was in flight
        self.client.poller.watch_each(watched)
        for work, _fid in live[len(ids) :]:
            if work.future._notify_once():
                work.future.set_exception(error if error is not None else FxError("BAD_RESPONSE", "the task was not accepted"))

    def _cancel_quietly(self, task_id: str) -> None:
        try:
            self.client.cancel(task_id)
        except FxError:
            pass  # its future is cancelled already; the task may still run

    def _source_of(self, fn: Callable[..., Any]) -> Tuple[str, str, str]:
        known = self._sources.get(fn)
        if known is None:
            source, entrypoint = python_source(fn)
            known = (source, entrypoint, f"{resource_name(entrypoint, 'fn')[:100]}-{source_digest(source)}")
            self._sources[fn] = known
        return known

    def _function_id(self, spec: Tuple[str, str, str]) -> str:
        source, entrypoint, name = spec
        key = (source, name)
        fid = self._function_ids.get(key)
        if fid is None:
            request: Dict[str, Any] = {"name": name, "runtime": "python", "source": source, "entrypoint": entrypoint}
            if self._walltime_seconds is not None:
                request["walltimeSeconds"] = self._walltime_seconds
            # the same registration returns the function the server already has, so executors share it
            fid = self.client.create_function(request)["id"]
            self._function_ids[key] = fid
        return fid

    def _forget(self, future: "concurrent.futures.Future[Any]") -> None:
        with self._cond:
            self._futures.discard(future)  # type: ignore[arg-type]
        self._close_client_when_idle()

    def _close_client_when_idle(self) -> None:
        with self._cond:
            idle = self._shutdown and self._owns_client and not self._futures and not self._queue
        if idle:
            self.client.close()
