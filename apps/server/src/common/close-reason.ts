/**
 * A websocket close reason must fit in 123 bytes of UTF-8 or `ws` throws (a RangeError that, thrown in
 * a socket handler, takes the process down). Cuts on a character boundary.
 */
export function closeReason(message: string, maxBytes = 123): string {
  if (Buffer.byteLength(message) <= maxBytes) return message;
  let out = '';
  let bytes = 0;
  for (const ch of message) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
