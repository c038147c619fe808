/**
 * Websocket close codes of every FX channel, in one table so that a peer never guesses what a number
 * means. 1000–1011 are RFC 6455's; FX's own are 4000 + the HTTP status they stand for (4401 ≈ 401), so
 * whoever knows HTTP can read them.
 */
export const WS_CLOSE = {
  /** RFC 6455: done on purpose (an SDK client closing, an agent stopping). */
  normal: 1000,
  /** RFC 6455: the peer goes away (an agent stopping or ending a block, to its block workers). */
  goingAway: 1001,
  /** RFC 6455: the peer speaks another protocol version. */
  protocolError: 1002,
  /** RFC 6455: a frame over the size limit. */
  tooBig: 1009,
  /** RFC 6455: the server failed on its side; reconnecting is the cure. */
  serverError: 1011,
  /** RFC 6455 "service restart": reconnect (an endpoint's settings changed; the new welcome carries them). */
  serviceRestart: 1012,
  /** A frame that does not parse, another protocol version, or a first frame that is not hello/auth. */
  badRequest: 4400,
  /** No, a bad, a revoked or an expired token (a block worker: an unknown block or a wrong secret). */
  unauthorized: 4401,
  /** The endpoint behind the socket no longer exists. */
  notFound: 4404,
  /** No hello (or console auth) in time. */
  timeout: 4408,
  /** Another agent serves this endpoint: a second agent is refused, or the old one is replaced. */
  conflict: 4409,
  /** Another agent took this endpoint over (`--takeover`): the old one stops for good. */
  takenOver: 4410,
  /** Too many sockets from one address, too many frames on one socket, or too much unread on it (a client watching live streams that does not read). */
  tooMany: 4429,
} as const;
export type WsCloseCode = (typeof WS_CLOSE)[keyof typeof WS_CLOSE];

/** Any socket opened with a user or endpoint token (the server's socket registry closes these). */
export const SOCKET_CLOSE = { unauthorized: WS_CLOSE.unauthorized, tooMany: WS_CLOSE.tooMany } as const;

/** The endpoint channel (server ↔ agent). */
export const ENDPOINT_CLOSE = {
  ...SOCKET_CLOSE,
  badRequest: WS_CLOSE.badRequest,
  gone: WS_CLOSE.notFound,
  timeout: WS_CLOSE.timeout,
  /** Refused before welcome: the agent stops; after welcome: this connection was replaced by a newer one. */
  replaced: WS_CLOSE.conflict,
  takenOver: WS_CLOSE.takenOver,
  tooBig: WS_CLOSE.tooBig,
  serverError: WS_CLOSE.serverError,
  /** The endpoint's allow-list changed: the agent reconnects and its welcome carries the new one. */
  reconfigured: WS_CLOSE.serviceRestart,
  /** The agent closes with these: stopping or refused (normal), a server of another version (protocolError). */
  normal: WS_CLOSE.normal,
  protocolError: WS_CLOSE.protocolError,
} as const;

/** The client channel (server ↔ SDK). */
export const CLIENT_CLOSE = { ...SOCKET_CLOSE, normal: WS_CLOSE.normal } as const;

/** The console channel (server ↔ admin console). */
export const CONSOLE_CLOSE = { ...SOCKET_CLOSE, badFrame: WS_CLOSE.badRequest, timeout: WS_CLOSE.timeout } as const;
