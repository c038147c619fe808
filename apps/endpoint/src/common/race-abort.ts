/**
 * `promise`, or a rejection as soon as `signal` aborts (at once if it already has), whichever comes
 * first: the rejection is `asError(signal.reason)`. The promise itself runs on; the listener is removed
 * when it settles, so a long-lived signal does not collect one per call.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, asError: (reason: unknown) => unknown = (reason) => reason): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(asError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(asError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
