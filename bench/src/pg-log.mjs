// The statements one database was sent, counted from the PostgreSQL log: the server's sessions log every
// statement (start it with PGOPTIONS=-c log_min_duration_statement=0); reading the log takes the rights of
// its owner. Used by idle-statements.mjs and seq-statements.mjs.
import { readFileSync } from 'node:fs';

export const LOG_EVERY_STATEMENT = { PGOPTIONS: '-c log_min_duration_statement=0' };

/** From now on, the statements of `database` in `logFile`: `counts()` gives them by text. */
export function statementLog(logFile, database) {
  const from = readFileSync(logFile).length;
  return {
    counts() {
      const counts = new Map();
      const mark = `@${database} LOG:  duration: `;
      for (const line of readFileSync(logFile).subarray(from).toString().split('\n')) {
        const at = line.indexOf(mark);
        if (at < 0) continue;
        // the extended protocol logs a statement's parse and bind as well: its execute alone counts it
        const m = /^[\d.]+ ms\s+(?:execute [^:]*|statement): (.*)/.exec(line.slice(at + mark.length));
        if (!m) continue;
        counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
      }
      return counts;
    },
  };
}
