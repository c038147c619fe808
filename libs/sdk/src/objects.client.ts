import { Readable } from 'node:stream';
import { ListObjectsQuery, ListObjectsResponse, ObjectInfo, ObjectName, Uuid, type ObjectRef, type ObjectRefInput, type TaskOutcome } from '@fx/protocol';
import type { GetObjectOptions, PutOptions } from './client.options.js';
import { NotFoundError, ServerError, ValidationError } from './errors.js';
import { openContent } from './object-download.js';
import { objectRefOf, type ObjectLike } from './object-ref.js';
import type { ObjectsContext } from './object-transfer.js';
import { ObjectUpload, sourceOf } from './object-upload.js';
import { outcomeValue } from './result-stream.js';
import { checkInput, queryString } from './validate.js';

/**
 * Objects: immutable bytes of any size, stored by content (sha256), passed to tasks by reference
 * (`client.objects`, and `client.put` / `client.get` / `client.getStream`). An ObjectRef (or ObjectInfo)
 * anywhere in a task's args or kwargs stands for the object's content: the endpoint's agent fetches it
 * once per endpoint and hands the function a Buffer (encoding bytes) or the value (encoding json).
 */
export class ObjectsClient {
  constructor(private readonly ctx: ObjectsContext) {}

  /**
   * Stores `data` and returns its reference. A Buffer, Uint8Array, web ReadableStream, Node Readable or
   * any AsyncIterable of bytes is stored as it is (encoding bytes); any other value as its JSON (encoding
   * json, and `get` gives the value back). Streams are sent in parts of `partBytes` as they are read,
   * never held whole, and hashed on the way; a part cut off by the network is resumed from the
   * server's offset. When the put fails anyway, the ObjectUploadError says how to resume it.
   */
  async put(data: unknown, options: PutOptions = {}): Promise<ObjectRef> {
    return (await this.putInfo(data, options)).ref;
  }

  /** As put, but resolves with the stored object's ObjectInfo (its name, expiry, owner). */
  async putInfo(data: unknown, options: PutOptions = {}): Promise<ObjectInfo> {
    this.ctx.assertOpen();
    return new ObjectUpload(this.ctx, options).run(sourceOf(data, options.encoding));
  }

  /**
   * An object's content, read whole: a Buffer (encoding bytes, or `raw`), else the JSON value. Checked
   * against its sha256; a dropped connection is resumed where it broke. Use getStream for large objects.
   */
  async get<T = unknown>(object: ObjectLike, options: GetObjectOptions = {}): Promise<T> {
    const ref = await this.resolve(object);
    const { head, chunks } = await openContent(this.ctx, ref, options.signal);
    const parts: Buffer[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    if (head.encoding !== 'json' || options.raw) return bytes as T;
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (cause) {
      throw new ServerError('BAD_RESPONSE', `object ${ref.id} is stored as json but its bytes are not JSON`, { cause });
    }
  }

  /**
   * An object's bytes as a Node Readable (also an AsyncIterable of Buffers), opened when first read:
   * resumed with a Range request after a dropped connection, and failing with ObjectIntegrityError at
   * the end if the bytes do not match the object's sha256.
   */
  getStream(object: ObjectLike, options: Omit<GetObjectOptions, 'raw'> = {}): Readable {
    const { signal } = options;
    this.ctx.assertOpen();
    const resolve = () => this.resolve(object);
    const ctx = this.ctx;
    return Readable.from(
      (async function* () {
        const { chunks } = await openContent(ctx, await resolve(), signal);
        yield* chunks;
      })(),
      { objectMode: false },
    );
  }

  /** One page of your objects, newest first (`prefix`, `name`, `limit` 1..1000, `cursor` from `nextCursor`), with your usage and quota. */
  async list(query: ListObjectsQuery = {}): Promise<ListObjectsResponse> {
    const params = queryString(checkInput(ListObjectsQuery, query, 'object list query'));
    return this.ctx.request({ method: 'GET', path: `/v1/objects?${params}`, response: ListObjectsResponse });
  }

  /** Every object of yours matching `query`, page after page. */
  async *all(query: Omit<ListObjectsQuery, 'cursor'> = {}): AsyncGenerator<ObjectInfo, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** An object's record by reference, id or name; NotFoundError for one that is not yours (or gone). */
  async info(object: ObjectLike): Promise<ObjectInfo> {
    const { id } = await this.resolve(object);
    return this.ctx.request({ method: 'GET', path: `/v1/objects/${id}`, response: ObjectInfo });
  }

  /** Deletes an object (by reference, id or name); its bytes go once nothing that can still run refers to them. */
  async delete(object: ObjectLike): Promise<void> {
    const { id } = await this.resolve(object);
    await this.ctx.request({ method: 'DELETE', path: `/v1/objects/${id}` });
  }

  /**
   * The reference an ObjectRef, ObjectInfo, id or name stands for. A name is looked up
   * (`GET /v1/objects?name=`): NotFoundError when you have no live object of that name.
   */
  async resolve(object: ObjectLike): Promise<ObjectRefInput> {
    if (typeof object === 'string') {
      if (Uuid.safeParse(object).success) return { $fx: 'object', id: object };
      const name = checkInput(ObjectName, object, 'object id or name');
      const found = (await this.list({ name, limit: 1 })).items[0];
      if (!found) throw new NotFoundError('NOT_FOUND', `you have no object named "${name}"`);
      return found.ref;
    }
    const ref = typeof object === 'object' && object !== null ? objectRefOf(object) : undefined;
    if (!ref) throw new ValidationError('VALIDATION_FAILED', 'expected an ObjectRef ({ $fx: "object", id }), an ObjectInfo, an object id or a name');
    return ref;
  }

  /** A final outcome's value: a result stored as an object is fetched (a Buffer, or the JSON value). */
  async outcomeValue<T>(outcome: TaskOutcome): Promise<T> {
    const value = outcomeValue<T>(outcome);
    return outcome.status === 'success' && outcome.resultRef ? this.get<T>(outcome.resultRef) : value;
  }
}
