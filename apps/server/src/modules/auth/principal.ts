/** Who is calling: resolved once per request or socket by AuthService. */
export interface Principal {
  tokenId: string;
  userId: string;
  admin: boolean;
  kind: 'user' | 'endpoint';
  /** Set for endpoint tokens: the one endpoint this token may speak for. */
  endpointId: string | null;
  /** When the token stops being valid, if it has an expiry: open sockets are closed then. */
  expiresAt?: Date | null;
}
