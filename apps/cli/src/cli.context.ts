import type { Client } from '@fx/sdk';
import type { Credentials, CredentialsStore } from './config/credentials.js';
import type { CliEnv } from './config/env.js';

/** What commands get instead of reaching for process globals, so tests can run them in-process. */
export interface CliContext {
  env: CliEnv;
  credentials: CredentialsStore;
  /** Results (stdout): one call per line, written as safeText (no control but tab and newline reaches the terminal). */
  out: (line: string) => void;
  /** Progress, notices and errors (stderr): one call per line, written as safeText. */
  err: (line: string) => void;
  /** The terminal behind stderr, for a live progress bar; undefined when stderr is not a terminal. */
  tty?: { write: (text: string) => void; columns: number };
  /** The process's stdin and stdout as byte streams, written as they are (`fx put -`, `fx get -o -`, `fx logs --raw`). */
  stdin: NodeJS.ReadableStream & AsyncIterable<Buffer | string>;
  stdout: NodeJS.WritableStream;
  /** The process's stderr as a byte stream (`fx logs` writes a task's stderr there as it comes). */
  stderr: NodeJS.WritableStream;
  /** Reads all of stdin when it is not a terminal; undefined when it is one. */
  readStdin: () => Promise<string | undefined>;
  /** Asks for a secret on the terminal without echoing it. */
  promptSecret: (question: string) => Promise<string>;
  /** A client for these credentials, by default the saved ones (FX_URL/FX_TOKEN override them). */
  connect: (credentials?: Credentials) => Promise<Client>;
  /**
   * Registers what to say if the person presses Ctrl-C while a command waits (the command then exits
   * 130); returns a function that unregisters it.
   */
  onInterrupt: (handler: () => void) => () => void;
  /** The clock, for rates and --since. */
  now: () => number;
}
