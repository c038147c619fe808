"""The shapes of the server's answers (libs/protocol/src/rest.ts), as TypedDicts: plain dicts at run time."""

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
    description: Optional[str]
    walltimeSeconds: Optional[float]
    public: bool
    contentHash: str
    ownerId: str
    createdAt: str


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
    error: Optional[Dict[str, Any]]
    output: Dict[str, Any]
    timeline: TaskTimeline


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
