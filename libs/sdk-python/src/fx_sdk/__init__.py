"""FX's Python SDK: register functions, run them on endpoints, collect their results.

    from fx_sdk import Client, Executor
    client = Client()                                   # FX_URL, FX_TOKEN
    fid = client.register_function(stats, name="stats")
    tid = client.run(fid, "my-endpoint", args=(data,))
    print(client.get_result(tid, timeout=60))
    with Executor("my-endpoint", client=client) as ex:
        print(list(ex.map(stats, datasets)))
"""

from ._options import RETRYABLE_CODES, Retry
from ._serializers import Serializer
from ._version import __version__
from .client import Client
from ._registry import LIST_ACCOUNTS_MAX, LIST_FUNCTIONS_MAX, LIST_FUNCTIONS_SOURCE_CHARS
from .errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    EndpointOfflineWarning,
    ForbiddenError,
    FxError,
    ListTruncatedError,
    NotFoundError,
    ObjectIntegrityError,
    ObjectUploadError,
    PartialBatchError,
    PayloadTooLargeError,
    QuotaExceededError,
    RateLimitError,
    RemoteTraceback,
    SerializationError,
    SerializerMismatch,
    ServerError,
    TaskCancelled,
    TaskCancelledError,
    TaskFailed,
    TaskFailedError,
    TimeoutError,
    ValidationError,
)
from ._live import LogChunk, ProgressEvent
from ._object_ref import ObjectRef
from ._refs import TaskRef, item_ref
from .executor import Executor, TaskFuture
from .group import TaskGroup
from ._python_check import PythonVersionMismatchWarning
from .outcome import RemoteError, TaskOutcome, TaskOutput

__all__ = [
    "__version__",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ConnectionError",
    "EndpointOfflineWarning",
    "Executor",
    "RETRYABLE_CODES",
    "Retry",
    "ForbiddenError",
    "FxError",
    "ListTruncatedError",
    "LIST_ACCOUNTS_MAX",
    "LIST_FUNCTIONS_MAX",
    "LIST_FUNCTIONS_SOURCE_CHARS",
    "LogChunk",
    "NotFoundError",
    "ObjectIntegrityError",
    "ObjectRef",
    "ObjectUploadError",
    "PartialBatchError",
    "PayloadTooLargeError",
    "ProgressEvent",
    "PythonVersionMismatchWarning",
    "QuotaExceededError",
    "RateLimitError",
    "RemoteError",
    "RemoteTraceback",
    "SerializationError",
    "Serializer",
    "SerializerMismatch",
    "ServerError",
    "TaskCancelled",
    "TaskCancelledError",
    "TaskFailed",
    "TaskFailedError",
    "TaskFuture",
    "TaskGroup",
    "TaskOutcome",
    "TaskOutput",
    "TaskRef",
    "TimeoutError",
    "ValidationError",
    "item_ref",
]
