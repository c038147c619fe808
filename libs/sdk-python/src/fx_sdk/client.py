"""The client of one FX server: the TypeScript SDK's ``Client`` in snake_case."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union, cast

from . import _batch
from ._audit import AuditMethods
from ._config import token_from_env, url_from_env
from ._live import LiveMethods
from ._longpoll import LongPollConnection
from ._objects import ObjectMethods
from ._options import CacheMethods, RetryLike
from ._poller import Arrivals, Delivery, ResultPoller
from ._serializers import Serializer, argument_fields
from ._python_check import PythonCheck
from ._refs import TaskRef
from ._transport import Transport
from ._triggers import TriggerMethods
from ._endpoint_groups import EndpointGroupMethods
from ._registry import RegistryMethods
from ._wire import endpoint_ref, function_ref, task_id
from .errors import ConnectionError, FxError, PayloadTooLargeError, ServerError, TimeoutError, ValidationError
from .group import TaskGroup
from .outcome import TaskOutcome
from .types import CancelResult, TaskInfo

if TYPE_CHECKING:
    from .executor import Executor

DEFAULT_MAX_BATCH_TASKS = 10_000
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024


class Client(RegistryMethods, CacheMethods, ObjectMethods, TriggerMethods, EndpointGroupMethods, LiveMethods, AuditMethods):
    """Client of one FX server. Thread-safe; one background thread collects results for every wait.

    ``url`` and ``token`` default to FX_URL and FX_TOKEN. ``timeout`` bounds one REST attempt (seconds);
    ``max_retries`` counts retries after it (idempotent requests on network errors and 5xx, every
    request on 429 and 503, waiting out ``Retry-After`` up to ``retry_max_delay``). ``result_wait`` is
    how long each results long-poll may wait on the server (at most 60 s). ``max_batch_tasks`` and
    ``max_request_bytes`` are the server's limits (FX_MAX_BATCH_TASKS, FX_MAX_REQUEST_BYTES); a server
    with smaller ones answers 413, and the batch is split further.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_base_delay: float = 0.25,
        retry_max_delay: float = 30.0,
        result_wait: float = 20.0,
        verify: Union[bool, str] = True,
        max_batch_tasks: int = DEFAULT_MAX_BATCH_TASKS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.url = url_from_env(url)
        self._rest = Transport(
            self.url,
            token_from_env(token),
            timeout=timeout,
            max_retries=max_retries,
            retry_base_delay=retry_base_delay,
            retry_max_delay=retry_max_delay,
            verify=verify,
        )
        self._poller = ResultPoller(
            LongPollConnection(self.url, self._rest.headers(), verify),
            wait=result_wait,
            retry_base_delay=retry_base_delay,
            retry_max_delay=retry_max_delay,
            load=self._load_result,  # results stored as objects are fetched when asked for (ObjectMethods)
        )
        self._batch_limit = max(1, max_batch_tasks)
        self._max_request_bytes = max_request_bytes
        self._closed = False
        self._python = PythonCheck(self.get_endpoint_status, self.get_function)

    # ---- tasks ---------------------------------------------------------------------------------

    def run(
        self,
        function: str,
        endpoint: str,
        args: Sequence[Any] = (),
        kwargs: Optional[Mapping[str, Any]] = None,
        *,
        resources: Optional[Mapping[str, Any]] = None,
        serializer: Serializer = "json",
        priority: Optional[int] = None,
        retry: Optional[RetryLike] = None, cache: Optional[bool] = None, trust_pickle: bool = False,
    ) -> str:
        """Submits one task and returns its id once the server stored it. Function and endpoint may be names.

        ``serializer="pickle"`` (python functions only) pickles ``(args, kwargs)`` and unpickles the result:
        numpy arrays, dataclasses and closures travel, but the endpoint must run this Python's major.minor.
        Unpickling runs whatever code the pickle names: another user's (public) function runs with pickle
        only with ``trust_pickle=True``, which says you trust its author with code on this machine.
        ``priority`` (0–9, default 5): higher goes first in the endpoint's queue, and on its agent.
        ``retry`` (a :class:`Retry`) replaces the function's retry policy for this task.
        """
        body: Dict[str, Any] = {"functionId": function_ref(function), "endpointId": endpoint_ref(endpoint), **argument_fields(args, kwargs, serializer, trust_pickle=trust_pickle)}
        body.update(_batch.task_fields(resources, priority, retry, cache))
        answer = self._request("POST", "/v1/tasks", body)
        _batch.warn_offline(answer.get("warnings"), set())
        self._python.submitted([(body["endpointId"], body["functionId"])])
        return str(answer["taskId"])

    def batch_run(
        self, endpoint: str, items: Iterable[_batch.BatchItem], *, resources: Optional[Mapping[str, Any]] = None, serializer: Serializer = "json",
        group: Optional[str] = None, priority: Optional[int] = None, retry: Optional[RetryLike] = None, cache: Optional[bool] = None,
        speculation: Optional[Mapping[str, Any]] = None, trust_pickle: bool = False,
    ) -> List[str]:
        """Submits many tasks, ``(function, args, kwargs)`` each; returns their ids in the order of ``items``.

        ``serializer``, ``priority``, ``retry``, ``cache`` and ``trust_pickle`` are those of every item (a dict item may name its own); see :meth:`run`.
        ``speculation={"afterFactor": 3, "minSamples": 5}`` copies stragglers of ``idempotent`` functions
        (see docs/speculation.md): the batch's group asks for it.

        Every item is checked before the first request. A batch larger than one request holds is sent
        as several, one after another; if a later one fails, the tasks of the earlier ones exist and
        :class:`PartialBatchError` carries their ids. The batch is one task group however many requests
        it takes: ``group`` (from :meth:`create_group`) names an existing one of yours to join.
        """
        ep = endpoint_ref(endpoint)
        pairs: "set[tuple[str, str]]" = set()
        encoded, item_refs = _batch.encode_items(items, resources, serializer, ep, pairs, retry, cache, trust_pickle)
        joined = task_id(group, "group id") if group is not None else None
        level = _batch.task_fields(None, priority).get("priority")
        spec = _batch.speculation_wire(speculation)
        overhead = len(_batch.request_body(ep, [], joined or _batch.NO_GROUP, level, spec))
        _batch.check_sizes(encoded, self._max_request_bytes, overhead)
        if item_refs and _batch.next_stop(encoded, 0, self._batch_limit, self._max_request_bytes, overhead) < len(encoded):
            raise ValidationError("VALIDATION_FAILED", "items refer to other items (item_ref), so the batch must fit in one request; it does not")
        ids: List[str] = []
        warned: "set[str]" = set()
        start = 0
        while start < len(encoded):
            stop = _batch.next_stop(encoded, start, self._batch_limit, self._max_request_bytes, overhead)
            try:
                answer = self._request("POST", "/v1/tasks/batch", encoded=_batch.request_body(ep, encoded[start:stop], joined, level, spec))
            except PayloadTooLargeError as err:
                if stop - start > 1 and not item_refs:
                    # a batch is stored all or none, so nothing of this one was: split it further
                    self._batch_limit = max(1, (stop - start) // 2)
                    continue
                raise _batch.partial(ids, err)
            except FxError as err:
                raise _batch.partial(ids, err)
            task_ids = answer.get("taskIds", [])
            if len(task_ids) != stop - start:
                raise _batch.partial(ids, ServerError("BAD_RESPONSE", f"the server returned {len(task_ids)} task ids for a batch of {stop - start}"))
            ids.extend(str(t) for t in task_ids)
            self._poller.accept(answer.get("cachedResults"))  # the cache's hits: their waits need no poll
            joined = joined or str(answer["batchId"])  # the requests after the first join its group
            _batch.warn_offline(answer.get("warnings"), warned)
            start = stop
        self._python.submitted(pairs)
        return ids

    def ref(self, task: str) -> TaskRef:
        """A reference to a task's result, to pass among another task's args or kwargs. Sends nothing."""
        return TaskRef(task_id=task_id(task))

    def get_task(self, task: str) -> TaskInfo:
        """A task's status, timeline, arguments and, once final, its result or error."""
        return cast(TaskInfo, self._request("GET", f"/v1/tasks/{task_id(task)}"))

    def cancel(self, task: str) -> CancelResult:
        """Asks the server to cancel a task; ``cancelled`` is False when it had already finished."""
        return cast(CancelResult, self._request("POST", f"/v1/tasks/{task_id(task)}/cancel", idempotent=True))

    def get_task_results(self, task_ids: Sequence[str], wait_ms: int = 0) -> Dict[str, Any]:
        """One POST /v1/tasks/results (up to 10,000 ids), as the server answers it; see :meth:`results` to wait."""
        body = {"taskIds": [task_id(t) for t in task_ids], "waitMs": int(wait_ms)}
        return cast(Dict[str, Any], self._request("POST", "/v1/tasks/results", body, idempotent=True))

    # ---- results -------------------------------------------------------------------------------

    def get_result(self, task: str, timeout: Optional[float] = None) -> Any:
        """Waits for a task's result (seconds; None waits as long as it takes); one stored as an object is fetched.

        A failed task raises its remote exception's builtin type when it is one, else :class:`~fx_sdk.TaskFailed`; a cancelled
        one :class:`~fx_sdk.TaskCancelled`; an unknown id :class:`~fx_sdk.NotFoundError`; a wait past ``timeout`` :class:`~fx_sdk.TimeoutError`.
        """
        tid = task_id(task)
        self._check_open()
        box: List[Delivery] = []
        done = threading.Event()

        def deliver(delivery: Delivery) -> None:
            box.append(delivery)
            done.set()

        self._poller.watch([tid], deliver)
        if not done.wait(timeout):
            self._poller.unwatch([tid], deliver)
            if not done.is_set():
                raise TimeoutError(f"task {tid} did not finish within {timeout:g} s")
        delivery = box[0]
        if isinstance(delivery, FxError):
            raise delivery
        return delivery.value()

    def get_results(self, task_ids: Sequence[str], timeout: Optional[float] = None) -> List[Any]:
        """Waits for every task; results in the order of ``task_ids``. The first failure raises and ends the wait."""
        by_id: Dict[str, Any] = {}
        for outcome in self.results(task_ids, timeout=timeout):
            by_id[outcome.task_id] = outcome.value()  # raises what a failed task failed with
        return [by_id[task_id(t)] for t in task_ids]

    def results(self, task_ids: Sequence[str], timeout: Optional[float] = None) -> Iterator[TaskOutcome]:
        """Yields each task's :class:`TaskOutcome` as it finishes, in completion order, each id once.

        Failed and cancelled tasks are yielded, not raised (``outcome.value()`` raises). An unknown id
        raises NotFoundError; ``timeout`` (seconds, for the whole iteration) TimeoutError. Nothing is
        waited on until iteration starts.
        """
        ids = list(dict.fromkeys(task_id(t) for t in task_ids))
        self._check_open()
        return self._stream(ids, timeout)

    def _stream(self, ids: List[str], timeout: Optional[float]) -> Iterator[TaskOutcome]:
        arrived = Arrivals(timeout)
        pending = set(ids)
        self._poller.watch(ids, arrived.deliver)
        try:
            while pending:
                delivery = arrived.next(lambda: f"{len(pending)} of {len(ids)} tasks did not finish within {timeout:g} s")
                pending.discard(delivery.task_id)
                yield delivery
        finally:
            if pending:
                self._poller.unwatch(list(pending), arrived.deliver)

    def group(self, group: str) -> TaskGroup:
        """A task group (a batch, a graph, a map) by id: list its tasks, stream their outcomes, cancel it."""
        return TaskGroup(self, group)

    def create_group(self, kind: str = "batch", *, speculation: Optional[Mapping[str, Any]] = None) -> TaskGroup:
        """An empty task group of yours, for batches to join (``batch_run(..., group=g.id)``); ``speculation``: see :meth:`batch_run`."""
        body: Dict[str, Any] = {"kind": kind}
        spec = _batch.speculation_wire(speculation)
        if spec is not None:
            body["speculation"] = spec
        return TaskGroup(self, str(self._request("POST", "/v1/groups", body)["id"]))

    def executor(self, endpoint: str, **options: Any) -> "Executor":
        """An :class:`~fx_sdk.Executor` on ``endpoint`` that shares this client."""
        from .executor import Executor

        return Executor(endpoint, client=self, **options)

    # ---- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stops the results thread (every open wait raises ConnectionError CLIENT_CLOSED) and the connections."""
        if self._closed:
            return
        self._closed = True
        self._poller.close(ConnectionError("CLIENT_CLOSED", "the client was closed"))
        self._rest.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals -----------------------------------------------------------------------------

    @property
    def poller(self) -> ResultPoller:
        """The results thread (for the Executor)."""
        return self._poller

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError("CLIENT_CLOSED", "the client was closed")

    def _request(self, method: str, path: str, body: Any = None, *, encoded: Optional[bytes] = None, idempotent: Optional[bool] = None) -> Any:
        self._check_open()
        return self._rest.request(method, path, body, encoded=encoded, idempotent=idempotent)


