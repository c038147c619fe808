import type { RawData, WebSocket } from 'ws';

/** Hands the frames held so far, then every later one, to `onData`. */
export type ReleaseFrames = (onData: (data: RawData) => void) => void;

/**
 * Frames can arrive before a socket's authentication finishes: they wait here, in order, until the
 * channel knows who is speaking and releases them to its handler.
 */
export function holdEarlyFrames(ws: WebSocket): ReleaseFrames {
  const early: RawData[] = [];
  const hold = (data: RawData) => early.push(data);
  ws.on('message', hold);
  return (onData) => {
    ws.off('message', hold);
    ws.on('message', onData);
    for (const data of early) onData(data);
  };
}
