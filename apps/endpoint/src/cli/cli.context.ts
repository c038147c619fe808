import type { EndpointEnv } from '../config/env.js';

/** What commands get instead of reaching for process globals, so tests can run them in-process. */
export interface CliContext {
  env: EndpointEnv;
  /** Normal output (stdout). */
  out: (line: string) => void;
  /** Warnings (stderr). */
  err: (line: string) => void;
  /** The command that runs this CLI again, for `start --detach`: [node, ...flags, script]. */
  selfCommand: string[];
}
