"""``put``: a resumable upload (POST /v1/objects/uploads, PUT parts at ``Upload-Offset``, complete).

The data is read a part at a time and hashed as it is read; only one part is ever held. A part cut
off by the network is resumed from the offset the server reports; when the put fails anyway, the
:class:`~fx_sdk.ObjectUploadError` says how much the server holds, and a put of the same data with
``upload_id`` sends only the rest (its first bytes are read and hashed, not sent).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from typing import Any, BinaryIO, Callable, Dict, Iterator, Optional, Union, cast

from ._transport import Transport, backoff_delay
from .errors import ConflictError, ConnectionError, FxError, ObjectIntegrityError, ObjectUploadError, RateLimitError, SerializationError, ServerError, TimeoutError, ValidationError

DEFAULT_PART_BYTES = 8 * 1024 * 1024
# A part must move at least this fast (bytes per second) before its PUT counts as stalled.
_MIN_PART_RATE = 256 * 1024

Progress = Callable[[int, Optional[int]], None]


def is_retryable(error: BaseException) -> bool:
    """Whether trying a transfer again may help: the network, a timeout, a 5xx, a rate limit."""
    if isinstance(error, ConnectionError):
        return error.code != "CLIENT_CLOSED"
    if isinstance(error, (TimeoutError, RateLimitError)):
        return True
    return isinstance(error, ServerError) and error.code != "BAD_RESPONSE"


def retry_delay(transport: Transport, attempt: int, error: BaseException) -> float:
    asked = error.retry_after if isinstance(error, RateLimitError) else None
    return min(transport.retry_max_delay, asked if asked is not None else backoff_delay(attempt, transport.retry_base_delay, transport.retry_max_delay))


class Source:
    """What ``put`` was given, as bytes read a piece at a time: ``size`` is known for bytes, values and files."""

    def __init__(self, read: Callable[[int], bytes], encoding: str, size: Optional[int], whole: Optional[bytes] = None, close: Optional[Callable[[], None]] = None) -> None:
        self.read = read
        self.encoding = encoding
        self.size = size
        self.whole = whole
        self.close = close or (lambda: None)


def source_of(data: Any, encoding: Optional[str]) -> Source:
    """Bytes, files and streams are stored as they are (encoding bytes); any other value as its JSON (encoding json)."""
    if encoding not in (None, "bytes", "json"):
        raise ValidationError("VALIDATION_FAILED", f'encoding must be "bytes" or "json", not {encoding!r}')
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _whole(bytes(data), encoding or "bytes")
    if isinstance(data, os.PathLike):
        path = os.fspath(data)
        try:
            handle = open(path, "rb")
        except OSError as err:
            raise ValidationError("VALIDATION_FAILED", f"cannot read {path}: {err.strerror or err}") from err
        return Source(handle.read, encoding or "bytes", os.fstat(handle.fileno()).st_size, close=handle.close)
    if hasattr(data, "read"):
        return Source(_binary_reader(cast(BinaryIO, data)), encoding or "bytes", None)
    if isinstance(data, Iterator):
        return Source(_iterator_reader(data), encoding or "bytes", None)
    if encoding == "bytes":
        if isinstance(data, str):
            return _whole(data.encode("utf-8"), "bytes")
        raise ValidationError("VALIDATION_FAILED", 'encoding "bytes" takes bytes, a file, a Path, an iterator of bytes or a str; other values are stored as JSON')
    try:
        text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise SerializationError("data", f"data: {err} (bytes, files and Paths are stored as they are; other values must be JSON)") from err
    return _whole(text.encode("utf-8"), "json")


def _whole(data: bytes, encoding: str) -> Source:
    view = io.BytesIO(data)
    return Source(view.read, encoding, len(data), whole=data)


def _binary_reader(handle: BinaryIO) -> Callable[[int], bytes]:
    def read(n: int) -> bytes:
        chunk: Union[bytes, str] = handle.read(n)
        return chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk or b"")

    return read


def _iterator_reader(chunks: Iterator[Any]) -> Callable[[int], bytes]:
    pending = bytearray()

    def read(n: int) -> bytes:
        while len(pending) < n:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise ValidationError("VALIDATION_FAILED", f"the iterator gave a {type(chunk).__name__}, not bytes")
            pending.extend(chunk)
        out = bytes(pending[:n])
        del pending[:n]
        return out

    return read


class Upload:
    """One put. ``run()`` returns the stored object's info."""

    def __init__(self, transport: Transport, request: Callable[..., Any], part_bytes: int, on_progress: Optional[Progress]) -> None:
        if isinstance(part_bytes, bool) or not isinstance(part_bytes, int) or part_bytes < 1:
            raise ValidationError("VALIDATION_FAILED", f"part_bytes must be a whole number of bytes, not {part_bytes!r}")
        self._rest = transport
        self._request = request
        self._part_bytes = part_bytes
        self._on_progress = on_progress
        self._hash = hashlib.sha256()
        self.upload_id: Optional[str] = None
        self.held = 0
        self._read_bytes = 0

    def run(self, source: Source, create: Dict[str, Any], upload_id: Optional[str]) -> Dict[str, Any]:
        try:
            return self._run(source, create, upload_id)
        finally:
            source.close()

    def _run(self, source: Source, create: Dict[str, Any], upload_id: Optional[str]) -> Dict[str, Any]:
        if upload_id is not None:
            upload = self._request("GET", f"/v1/objects/uploads/{upload_id}")
        else:
            body = {**create, "encoding": source.encoding}
            if source.size is not None:
                body["size"] = source.size
            if source.whole is not None:
                body["sha256"] = hashlib.sha256(source.whole).hexdigest()
            # repeated after a network failure: at worst an upload nobody sends to is left, and it expires
            upload = self._request("POST", "/v1/objects/uploads", body, idempotent=True)
        self.upload_id, self.held = str(upload["uploadId"]), int(upload["offset"])
        skip = self.held
        read = 0
        while read < skip:  # a resumed upload: what the server holds is hashed, not sent
            chunk = self._read(source, min(self._part_bytes, skip - read))
            if not chunk:
                raise self._failure(f"the data has {read} bytes, fewer than the {skip} the upload holds already: it is not the same data", None)
            self._hash.update(chunk)
            read += len(chunk)
        while True:
            part = self._read(source, self._part_bytes)
            if not part:
                break
            self._hash.update(part)
            read += len(part)
            self._send_part(part, source.size)
        return self._complete(read)

    def _read(self, source: Source, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the data)."""
        out = bytearray()
        while len(out) < n:
            try:
                chunk = source.read(n - len(out))
            except Exception as err:
                raise self._failure(f"the data failed after {self._read_bytes + len(out)} bytes ({type(err).__name__}: {err})", err) from err
            if not chunk:
                break
            out.extend(chunk)
        self._read_bytes += len(out)
        return bytes(out)

    def _send_part(self, part: bytes, total: Optional[int]) -> None:
        start, end = self.held, self.held + len(part)
        path = f"/v1/objects/uploads/{self.upload_id}"
        failures = 0
        while self.held < end:
            body = part[self.held - start :]
            try:
                res = self._rest.send(
                    "PUT",
                    path,
                    data=body,
                    headers={"content-type": "application/octet-stream", "upload-offset": str(self.held)},
                    timeout=self._rest.timeout + len(body) / _MIN_PART_RATE,
                )
                self._move_to(int(res.json()["offset"]), start, end)
                failures = 0
                if self._on_progress is not None:
                    self._on_progress(self.held, total)
                continue
            except ObjectUploadError:
                raise
            except (FxError, ValueError, KeyError) as err:
                reported = err.details.get("offset") if isinstance(err, ConflictError) and isinstance(err.details, dict) else None
                if isinstance(reported, int) and failures < self._rest.max_retries:
                    failures += 1
                    self._move_to(reported, start, end)
                    continue
                if isinstance(err, (ValueError, KeyError)):
                    err = ConnectionError("CONNECTION_FAILED", f"PUT {path}: the answer could not be read")
                if not is_retryable(err) or failures >= self._rest.max_retries:
                    raise self._failure(f"a part at offset {self.held} failed: {err}", err) from err
                time.sleep(retry_delay(self._rest, failures, err))
                failures += 1
            try:  # where the server got to before the failure: only the rest of the part is sent again
                self._move_to(int(self._request("GET", path)["offset"]), start, end)
            except FxError as err:
                raise self._failure(f"the upload's offset could not be read after a failed part: {err}", err) from err

    def _move_to(self, offset: int, start: int, end: int) -> None:
        if offset < start or offset > end:
            raise self._failure(f"the server holds {offset} bytes of the upload, outside the part being sent ({start} to {end})", None)
        self.held = offset

    def _complete(self, size: int) -> Dict[str, Any]:
        digest = self._hash.hexdigest()
        try:
            # repeated after a network failure: the server answers a completed upload with the object it became
            info = cast(Dict[str, Any], self._request("POST", f"/v1/objects/uploads/{self.upload_id}/complete", {"sha256": digest}, idempotent=True))
        except FxError as err:
            raise self._failure(f"the upload could not be completed: {err}", err) from err
        if info.get("sha256") != digest or info.get("size") != size:
            try:  # the server holds other bytes than were read here (another source under the same upload id)
                self._request("DELETE", f"/v1/objects/{info.get('id')}")
            except FxError:
                pass
            raise ObjectIntegrityError(
                f"the server stored {info.get('size')} bytes of sha256 {info.get('sha256')} for the {size} bytes of sha256 {digest} that were sent",
                digest,
                info.get("sha256"),
            )
        return info

    def _failure(self, why: str, cause: Optional[BaseException]) -> ObjectUploadError:
        resume = f"; the server keeps {self.held} bytes: put the same data with upload_id={self.upload_id!r} to send the rest" if self.upload_id else ""
        return ObjectUploadError(f"put failed: {why}{resume}", self.upload_id, self.held, cause)

