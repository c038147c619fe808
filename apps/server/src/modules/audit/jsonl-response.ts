import type { ServerResponse } from 'node:http';

/** Resolves when the response may take more bytes, or has closed (the reader went away). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Streams pages of records as JSON lines (application/x-ndjson), one page in memory at a time, as
 * fast as the reader takes them. The first page is read before the status is sent, so a failure
 * there is an ordinary error answer; a failure later can only cut the stream short.
 */
export async function writeLines(res: ServerResponse, pages: AsyncGenerator<unknown[]>, filename: string): Promise<void> {
  let next = await pages.next();
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.setHeader('Cache-Control', 'no-store');
  try {
    while (!next.done) {
      if (res.destroyed) {
        await pages.return(undefined);
        return;
      }
      if (!res.write(next.value.map((r) => JSON.stringify(r) + '\n').join(''))) await drained(res);
      next = await pages.next();
    }
    res.end();
  } catch (e) {
    res.destroy(e as Error);
  }
}
