"""Objects: immutable bytes of any size, stored by content (sha256), passed to tasks by reference.

The client's object calls live here (a mixin, so that client.py stays small): ``put``, ``get``,
``iter_object``, ``get_to_file``, ``list_objects``, ``object_info``, ``delete_object`` and
``get_result_ref``. An :class:`ObjectRef` (or an object's info) anywhere in a task's arguments stands
for the object's content; a task's result stored as an object is fetched by ``get_result`` and
``future.result()``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, TypedDict, Union, cast
from urllib.parse import urlencode

import requests

from ._calls import ClientCalls
from ._object_ref import ObjectRef, object_wire_ref
from ._object_upload import DEFAULT_PART_BYTES, Progress, Upload, is_retryable, retry_delay, source_of
from ._wire import UUID_RE
from .errors import ConnectionError, FxError, NotFoundError, ObjectIntegrityError, ServerError, ValidationError
from .outcome import exception_for
from .types import ObjectInfo

if TYPE_CHECKING:  # type checkers know typing_extensions; at run time the annotations stay strings
    from typing_extensions import Unpack

    from ._transport import Transport
    from .outcome import TaskOutcome

ObjectLike = Union[ObjectRef, Dict[str, Any], str]

# A path-like key such as input/sample-17.fastq (ObjectName in libs/protocol/src/objects.ts).
_NAME_RE = re.compile(r"^(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9._+=@-]+(?:/[A-Za-z0-9._+=@-]+)*$")
_READ_CHUNK = 1024 * 1024


class PutOptions(TypedDict, total=False):
    """The keywords after ``ttl_seconds`` that ``put`` hands to ``put_info``, where they are described."""

    encoding: Optional[str]
    upload_id: Optional[str]
    part_bytes: int
    on_progress: Optional[Progress]


def object_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 1024 or not _NAME_RE.match(name):
        raise ValidationError(
            "VALIDATION_FAILED",
            f'not an object name: {name!r} (a path-like key such as "input/sample-17.fastq": letters, digits and . _ - + = @ between single "/")',
        )
    return name


class ObjectMethods(ClientCalls):
    """The client's object calls."""

    _rest: "Transport"

    def _check_open(self) -> None:  # the Client's own
        raise NotImplementedError

    def results(self, task_ids: Sequence[str], timeout: Optional[float] = None) -> Iterator["TaskOutcome"]:  # the Client's own
        raise NotImplementedError

    def put(self, data: Any, name: Optional[str] = None, ttl_seconds: Optional[int] = None, **options: Unpack[PutOptions]) -> ObjectRef:
        """Stores ``data`` as an immutable object and returns its :class:`ObjectRef`.

        ``bytes``, a binary file, a :class:`~pathlib.Path` (streamed from disk) or an iterator of bytes is
        stored as it is (encoding ``bytes``); any other value, ``str`` included, as its JSON (encoding
        ``json``: ``get`` gives the value back). ``encoding="bytes"`` stores a ``str`` as UTF-8. Files and
        streams are read ``part_bytes`` at a time, hashed as they are read, never held whole; a part cut
        off by the network is resumed from the server's offset. ``name`` (``input/a.csv``) takes the name
        from an object of yours that has it; ``ttl_seconds`` lets it be collected after that long.
        ``on_progress(bytes_held, total_or_None)`` hears of each part. On failure an
        :class:`~fx_sdk.ObjectUploadError` carries ``upload_id``: ``put(same_data, upload_id=...)`` sends the rest.
        """
        return ObjectRef.from_wire(self.put_info(data, name, ttl_seconds, **options)["ref"])

    def put_info(
        self,
        data: Any,
        name: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        *,
        encoding: Optional[str] = None,
        upload_id: Optional[str] = None,
        part_bytes: int = DEFAULT_PART_BYTES,
        on_progress: Optional[Progress] = None,
    ) -> ObjectInfo:
        """As :meth:`put`, returning the stored object's info (name, size, sha256, expiry, ``ref``)."""
        self._check_open()
        create: Dict[str, Any] = {}
        if name is not None:
            create["name"] = object_name(name)
        if ttl_seconds is not None:
            if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
                raise ValidationError("VALIDATION_FAILED", f"ttl_seconds must be a whole number of seconds, at least 1, not {ttl_seconds!r}")
            create["ttlSeconds"] = ttl_seconds
        uid = None if upload_id is None else _uuid(upload_id, "upload id")
        upload = Upload(self._rest, self._request, part_bytes, on_progress)
        return cast(ObjectInfo, upload.run(source_of(data, encoding), create, uid))

    def get(self, obj: ObjectLike, *, raw: bool = False) -> Any:
        """An object's content, read whole: ``bytes`` (encoding bytes, or ``raw``), else the JSON value.

        ``obj`` is an ObjectRef, an object's info, its id or its name. Checked against its sha256; a
        dropped connection resumes where it broke. For large objects see :meth:`get_to_file`.
        """
        ref = self.resolve_object(obj)
        encoding: List[str] = []
        data = b"".join(self._chunks(ref, encoding))
        if raw or encoding[0] != "json":
            return data
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as err:
            raise ServerError("BAD_RESPONSE", f"object {ref.id} is stored as json but its bytes are not JSON") from err

    def iter_object(self, obj: ObjectLike) -> Iterator[bytes]:
        """An object's bytes as they arrive, resumed with a Range request after a dropped connection; the last
        step checks them against the object's sha256 (:class:`~fx_sdk.ObjectIntegrityError` when they differ)."""
        return self._chunks(self.resolve_object(obj), [])

    def get_to_file(self, obj: ObjectLike, path: Union[str, "os.PathLike[str]"]) -> ObjectRef:
        """Streams an object into ``path`` (written aside, renamed once its sha256 checks) and returns its reference."""
        ref = self.resolve_object(obj)
        target = Path(path)
        # aside under a fresh name, created new: never through a link another user left in a shared directory
        part = target.with_name(f"{target.name}.fx-part-{secrets.token_hex(6)}")
        try:
            with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
                for chunk in self._chunks(ref, []):
                    out.write(chunk)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return ref

    def list_objects(self, prefix: Optional[str] = None, name: Optional[str] = None, limit: Optional[int] = None) -> List[ObjectInfo]:
        """Your objects, newest first (every page, or the first ``limit``); ``prefix`` (``input/``) or exact ``name``."""
        query: Dict[str, Any] = {}
        if prefix is not None:
            query["prefix"] = prefix
        if name is not None:
            query["name"] = object_name(name)
        found: List[ObjectInfo] = []
        cursor: Optional[str] = None
        while True:
            page = self._request("GET", "/v1/objects?" + urlencode({**query, "limit": min(1000, limit or 1000), **({"cursor": cursor} if cursor else {})}))
            found.extend(page["items"][: None if limit is None else limit - len(found)])
            cursor = page.get("nextCursor")
            if not cursor or (limit is not None and len(found) >= limit):
                return found

    def object_info(self, obj: ObjectLike) -> ObjectInfo:
        """An object's info by reference, id or name; NotFoundError for one that is not yours (or gone)."""
        return cast(ObjectInfo, self._request("GET", f"/v1/objects/{self.resolve_object(obj).id}"))

    def delete_object(self, obj: ObjectLike) -> None:
        """Deletes an object; its bytes go once nothing that can still run refers to them."""
        self._request("DELETE", f"/v1/objects/{self.resolve_object(obj).id}")

    def resolve_object(self, obj: ObjectLike) -> ObjectRef:
        """The reference an ObjectRef, info, id or name stands for (a name is looked up: NotFoundError if you have none)."""
        if isinstance(obj, str):
            if UUID_RE.match(obj):
                return ObjectRef(obj.lower())
            found = self.list_objects(name=object_name(obj), limit=1)
            if not found:
                raise NotFoundError("NOT_FOUND", f'you have no object named "{obj}"')
            return ObjectRef.from_wire(found[0]["ref"])
        wire = object_wire_ref(obj)
        if wire is None:
            raise ValidationError("VALIDATION_FAILED", f"expected an ObjectRef, an object's info, an object id or a name, not {type(obj).__name__}")
        return ObjectRef.from_wire(wire)

    def get_result_ref(self, task: str, timeout: Optional[float] = None) -> Optional[ObjectRef]:
        """Waits like ``get_result``; returns the result's ObjectRef when it was stored as an object, None when it came inline."""
        for outcome in self.results([task], timeout=timeout):
            if not outcome.ok:
                raise exception_for(outcome)
            return outcome.result_ref
        return None

    def _load_result(self, ref: ObjectRef) -> Any:
        """How outcomes read a result stored as an object."""
        return self.get(ref)

    def _chunks(self, ref: ObjectRef, encoding: List[str]) -> Iterator[bytes]:
        """The content's bytes; ``encoding`` gets the object's encoding appended once the first answer is in."""
        self._check_open()
        path = f"/v1/objects/{ref.id}/content"
        res = _with_retries(self._rest, lambda: self._rest.send("GET", path, stream=True))
        served = res.headers.get("x-fx-sha256") or (res.headers.get("etag") or "").strip('"').replace("W/", "")
        served = served if re.match(r"^[0-9a-f]{64}$", served or "") else None
        if ref.sha256 and served and served != ref.sha256:
            res.close()
            raise ObjectIntegrityError(f"object {ref.id} is served as sha256 {served}, not the {ref.sha256} its reference names", ref.sha256, served)
        expected_sha = ref.sha256 or served
        length = res.headers.get("content-length")
        size = ref.size if ref.size is not None else (int(length) if length and length.isdigit() else None)
        encoding.append(ref.encoding or ("json" if res.headers.get("content-type", "").startswith("application/json") else "bytes"))
        return self._object_bytes(res, path, ref.id, expected_sha, size)

    def _object_bytes(self, first: requests.Response, path: str, object_id: str, sha256: Optional[str], size: Optional[int]) -> Iterator[bytes]:
        digest = hashlib.sha256()
        received = 0
        failures = 0
        res: Optional[requests.Response] = first
        while True:
            try:
                if res is None:
                    if size is not None and received >= size:
                        break
                    res = self._rest.send("GET", path, headers={"range": f"bytes={received}-"}, stream=True)
                    if res.status_code != 206:
                        res.close()
                        raise ServerError("BAD_RESPONSE", f"GET {path} answered {res.status_code} to a Range request: the download cannot resume")
                try:
                    for chunk in res.iter_content(_READ_CHUNK):
                        digest.update(chunk)
                        received += len(chunk)
                        failures = 0
                        yield chunk
                except requests.RequestException as err:
                    raise ConnectionError("CONNECTION_FAILED", f"GET {path}: the connection broke while reading ({type(err).__name__})") from err
                finally:
                    res.close()
                break
            except FxError as err:
                res = None
                if not is_retryable(err) or failures >= self._rest.max_retries:
                    raise
                time.sleep(retry_delay(self._rest, failures, err))
                failures += 1
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise ObjectIntegrityError(f"object {object_id}: the {received} bytes read have sha256 {actual}, not {sha256}", sha256, actual)
        if size is not None and received != size:
            raise ObjectIntegrityError(f"object {object_id}: {received} bytes were read of {size}", sha256, actual)


def _uuid(value: str, what: str) -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise ValidationError("VALIDATION_FAILED", f"{what} must be a UUID, got {value!r}")
    return value.lower()


def _with_retries(transport: "Transport", send: Callable[[], requests.Response]) -> requests.Response:
    failures = 0
    while True:
        try:
            return send()
        except FxError as err:
            if not is_retryable(err) or failures >= transport.max_retries:
                raise
            time.sleep(retry_delay(transport, failures, err))
            failures += 1
