// What the committed bin launchers of `fx` and `fx-endpoint` do, written once. Plain JavaScript outside
// dist, like the launchers themselves, so that it is there at install time, before any build.
import { existsSync } from 'node:fs';

/**
 * Runs the built command line `entry` (a file URL into the package's dist); before a build, says so in
 * one line under the command's `name` and exits 1 instead of failing with a module-not-found trace.
 */
export async function launch(name, entry) {
  if (!existsSync(entry)) {
    process.stderr.write(`${name}: not built yet; run "npm run build" in the FX repository first\n`);
    process.exit(1);
  }
  await import(entry.href);
}
