import { createContext, useContext, useEffect, useRef } from 'react';
import type { ConsoleEventsPayload, UserInfo } from '@fx/protocol';
import type { Api } from './api';
import type { LiveChannel } from './live';

export interface Session {
  user: UserInfo;
  api: Api;
  live: LiveChannel;
  signOut(message?: string): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in session');
  return s;
}

/** Runs `listener` for every console event while the component is mounted. */
export function useLiveEvents(listener: (e: ConsoleEventsPayload) => void): void {
  const { live } = useSession();
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => live.subscribe((e) => ref.current(e)), [live]);
}
