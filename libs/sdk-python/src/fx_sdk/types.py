"""The shapes of the server's answers (libs/protocol/src/rest.ts, functions.ts), as TypedDicts: plain dicts at run time."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, TypedDict


class FunctionInfo(TypedDict):
    id: str
    name: str
    version: int
    runtime: str
    source: str
    entrypoint: Optional[str]
    failOnNonZeroExit: bool
    # shell: a stdout line starting with it is a progress value (docs/live.md)
    progressPrefix: Optional[str]
    description: Optional[str]
    walltimeSeconds: Optional[float]
    public: bool
    retry: Optional["RetryPolicy"]
    # memoized results: {"ttlSeconds", "shareable"}, or None
    cache: Optional[Dict[str, Any]]
    contentHash: str
    ownerId: str
    createdAt: str


class RetryPolicy(TypedDict):
    """A retry policy as the server stores it (see :class:`fx_sdk.Retry` for submitting one)."""

    maxAttempts: int
    backoffSeconds: float
    on: List[str]


class TaskAttempt(TypedDict):
    """One attempt of a task (``TaskInfo["attempts"]``): where it ran, when, and how it ended. ``status``:
    ``retried`` (failed, run again), ``lost`` (its lease was lost), or the task's own for its last attempt."""

    number: int
    status: str
    endpointId: str
    connectionId: Optional[str]
    workerId: Optional[str]
    blockId: Optional[str]
    queuedAt: Optional[str]
    dispatchedAt: Optional[str]
    startedAt: Optional[str]
    endedAt: Optional[str]
    error: Optional[Dict[str, Any]]
    retryAt: Optional[str]


class EndpointInfo(TypedDict):
    id: str
    name: str
    description: Optional[str]
    ownerId: str
    state: str
    allowedFunctions: Optional[List[str]]
    lastHeartbeatAt: Optional[str]
    connectedAt: Optional[str]
    agent: Optional[Dict[str, Any]]
    status: Optional[Dict[str, Any]]
    lastStatus: Optional[Dict[str, Any]]
    createdAt: str


class PythonDistributions(TypedDict):
    count: int
    sha256: str


class PythonReport(TypedDict, total=False):
    """An endpoint's Python (``status["python"]``): ``available`` with version, executable and distributions, or ``reason``."""

    available: bool
    version: str
    executable: str
    distributions: PythonDistributions
    reason: str


class EndpointStatus(TypedDict):
    """GET /v1/endpoints/:id/status. ``status`` (live) and ``lastStatus`` are heartbeats: state, workers,
    queued, running, spooled, provider, and ``python`` (a :class:`PythonReport`) once probed."""

    id: str
    state: str
    lastHeartbeatAt: Optional[str]
    status: Optional[Dict[str, Any]]
    lastStatus: Optional[Dict[str, Any]]
    tasks: Dict[str, int]


class RegisterEndpointResponse(TypedDict):
    endpoint: EndpointInfo
    token: str


class TaskTimeline(TypedDict):
    receivedAt: str
    waitingAt: Optional[str]
    dispatchedAt: Optional[str]
    runningAt: Optional[str]
    completedAt: Optional[str]
    retryAt: Optional[str]


class TaskInfo(TypedDict, total=False):
    id: str
    functionId: str
    endpointId: str
    batchId: Optional[str]
    ownerId: str
    status: str
    attempt: int
    # 0–9, higher first in its endpoint's queue
    priority: int
    args: List[Any]
    kwargs: Dict[str, Any]
    # "pickle": the arguments are pickledArgs and the result a pickled value, both as the wire has them
    serializer: str
    pickledArgs: Dict[str, Any]
    result: Any
    # the result stored as an object (large, bytes, a named output): ``result`` is absent, get_result fetches it
    resultRef: Dict[str, Any]
    error: Optional[Dict[str, Any]]
    output: Dict[str, Any]
    # completed from a memoized result, produced by task cachedFrom, without running; cachedFrom is
    # None when that task is not the caller's to read (another user's, through a shareable cache)
    cached: bool
    cachedFrom: Optional[str]
    timeline: TaskTimeline
    # the policy it runs under (its own, or its function's), and every attempt so far, oldest first
    retry: Optional[RetryPolicy]
    attempts: List[TaskAttempt]


class CancelResult(TypedDict):
    taskId: str
    status: str
    cancelled: bool


class UserInfo(TypedDict):
    id: str
    name: str
    admin: bool
    createdAt: str


class WhoAmI(TypedDict):
    user: UserInfo
    tokenId: str


class TokenInfo(TypedDict):
    id: str
    name: str
    kind: str
    userId: str
    endpointId: Optional[str]
    createdAt: str
    expiresAt: Optional[str]
    revokedAt: Optional[str]


class CreateTokenResponse(TypedDict):
    token: str
    info: TokenInfo


class ObjectInfo(TypedDict):
    """An object (``put_info``, ``object_info``, ``list_objects``): ``ref`` is the wire reference tasks take."""

    id: str
    ownerId: str
    name: Optional[str]
    sha256: str
    size: int
    encoding: str
    createdAt: str
    expiresAt: Optional[str]
    taskId: Optional[str]
    ref: Dict[str, Any]


class TriggerInfo(TypedDict):
    """A trigger (``create_trigger``, ``get_trigger``, ``list_triggers``): objects you put under ``prefix``
    run ``functionId`` on ``endpointId``; ``fired`` counts the objects it has fired for so far (a firing
    that started no task included); ``fromMembers``: it also fires on your group members' named outputs."""

    id: str
    ownerId: str
    prefix: str
    functionId: str
    endpointId: str
    outputPrefix: Optional[str]
    fromMembers: bool
    createdAt: str
    fired: int


class EndpointGroupMember(TypedDict):
    """A member of an endpoint group: ``state`` is ``active`` or ``invited``; an invited endpoint of another
    user shows its id only (``name`` and ``online`` are None until its owner accepts)."""

    endpointId: str
    state: str
    name: Optional[str]
    online: Optional[bool]
    addedAt: str


class EndpointGroupInfo(TypedDict):
    """An endpoint group (``create_endpoint_group``, ``get_endpoint_group``): its id or name goes wherever an endpoint's does."""

    id: str
    ownerId: str
    name: str
    createdAt: str
    members: List[EndpointGroupMember]


class EndpointInvitation(TypedDict):
    """An invitation of one of your endpoints into another user's group (``list_endpoint_invitations``)."""

    groupId: str
    groupName: str
    ownerId: str
    ownerName: Optional[str]
    endpointId: str
    endpointName: str
    invitedAt: str


class AuditActor(TypedDict):
    """Who acted: ``kind`` is ``user``, ``endpoint`` (an agent's token) or ``system`` (the server: its first
    start, a trigger's firing); ``id`` and ``name`` are the user's or endpoint's as they were then."""

    kind: str
    id: Optional[str]
    name: Optional[str]


class AuditTarget(TypedDict):
    type: str
    id: str


class AuditEntry(TypedDict):
    """One entry of the audit log (``get_audit``): ``id`` increases; ``ownerId`` is whose thing the target is."""

    id: str
    at: str
    actor: AuditActor
    action: str
    target: AuditTarget
    ownerId: Optional[str]
    details: Dict[str, Any]


class AuditPage(TypedDict):
    """A page of the audit log: pass ``next`` back as ``after`` (or ``before`` newest first); None at the end."""

    items: List[AuditEntry]
    next: Optional[str]
class UsageFigures(TypedDict):
    """Sums over attempts (``get_usage``); hours are decimal, core-hours = the sum of cores x wall time."""

    attempts: int
    tasks: int
    wallHours: float
    coreHours: float
    gpuHours: float
    cpuHours: float
    measuredAttempts: int
    maxRssBytes: Optional[int]


class UsageRow(UsageFigures):
    """One user, endpoint or function: ``key`` is its id, ``name`` None once deleted (or not yours)."""

    key: str
    name: Optional[str]


class UsagePoint(TypedDict):
    at: str
    key: str
    coreHours: float
    gpuHours: float


class BlockUsage(TypedDict):
    """The pilot blocks of one endpoint inside the window: node-hours, busy and idle."""

    endpointId: str
    endpointName: Optional[str]
    blocks: int
    nodeHours: float
    busyNodeHours: float
    idleNodeHours: float
    idleShare: Optional[float]


class UsageResponse(TypedDict, total=False):
    """``get_usage``'s answer: ``others`` is present only when more keys than the listed ones had usage."""

    by: str
    since: str
    until: str
    bucket: str
    total: UsageFigures
    rows: List[UsageRow]
    others: UsageFigures
    series: List[UsagePoint]
    blocks: List[BlockUsage]
