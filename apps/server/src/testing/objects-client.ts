import { createHash } from 'node:crypto';
import http from 'node:http';
import type { ObjectInfo, UploadInfo } from '@fx/protocol';

/** A reply of the object routes: status, headers, and the body as JSON (when it is) or bytes. */
export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  bytes: Buffer;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The object routes driven over plain HTTP, as an SDK or an agent would: for tests. */
export function objectsClient(baseUrl: string, token: string) {
  const call = async <T = any>(
    method: string,
    path: string,
    init: { body?: Buffer | string | ReadableStream; headers?: Record<string, string> } = {},
  ): Promise<Reply<T>> => {
    const res = await fetch(baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...init.headers },
      ...(init.body !== undefined ? { body: init.body as never, duplex: 'half' } : {}),
    } as RequestInit);
    const bytes = Buffer.from(await res.arrayBuffer());
    const json = /json/.test(res.headers.get('content-type') ?? '') && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined;
    return { status: res.status, headers: res.headers, body: json as T, bytes };
  };
  const octets = (extra: Record<string, string> = {}) => ({ 'content-type': 'application/octet-stream', ...extra });
  return {
    call,
    /** POST /v1/objects with the bytes. */
    put: (bytes: Buffer, query: Record<string, string | number> = {}) => {
      const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      return call<ObjectInfo>('POST', `/v1/objects${qs ? `?${qs}` : ''}`, { body: bytes, headers: octets() });
    },
    /** POST /v1/objects with a body of unknown length (chunked). */
    putChunked: (chunks: Buffer[], query: Record<string, string | number> = {}) => {
      const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      const stream = new ReadableStream({
        start(c) {
          for (const chunk of chunks) c.enqueue(new Uint8Array(chunk));
          c.close();
        },
      });
      return call<ObjectInfo>('POST', `/v1/objects${qs ? `?${qs}` : ''}`, { body: stream, headers: octets() });
    },
    createUpload: (body: Record<string, unknown> = {}) =>
      call<UploadInfo>('POST', '/v1/objects/uploads', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    putPart: (uploadId: string, offset: number, bytes: Buffer) =>
      call<UploadInfo>('PUT', `/v1/objects/uploads/${uploadId}`, { body: bytes, headers: octets({ 'upload-offset': String(offset) }) }),
    upload: (uploadId: string) => call<UploadInfo>('GET', `/v1/objects/uploads/${uploadId}`),
    complete: (uploadId: string) => call<ObjectInfo>('POST', `/v1/objects/uploads/${uploadId}/complete`),
    info: (id: string) => call<ObjectInfo>('GET', `/v1/objects/${id}`),
    content: (id: string, headers: Record<string, string> = {}) => call('GET', `/v1/objects/${id}/content`, { headers }),
    remove: (id: string) => call('DELETE', `/v1/objects/${id}`),
    list: (query: Record<string, string | number> = {}) =>
      call('GET', `/v1/objects?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`),
  };
}

/**
 * Sends `bytes` as a part from `offset`, then drops the connection before the request ends (the
 * Content-Length promises more): a transfer cut midway. Resolves once every byte was handed to the
 * kernel and the socket is destroyed.
 */
export function cutPart(baseUrl: string, token: string, uploadId: string, offset: number, bytes: Buffer, promised: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${baseUrl}/v1/objects/uploads/${uploadId}`);
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'PUT',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        'content-length': String(promised),
        'upload-offset': String(offset),
      },
    });
    req.on('error', () => undefined);
    req.write(bytes, (err) => {
      if (err) return reject(err);
      // give the server a moment to take the bytes in before the connection goes
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
  });
}
