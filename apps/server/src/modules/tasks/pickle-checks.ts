import { FxException } from '../../common/fx.exception.js';
import type { NewTask } from './tasks.repository.js';

/** What a submission's pickle tasks must satisfy, once their functions are known (TasksService.submitMany). */

/** Only the python runtime reads a pickle: a pickle task of any other function is refused before it is stored. */
export function checkPickledRuntimes(
  items: Array<Omit<NewTask, 'id'>>,
  functions: Map<string, { id: string; name: string; runtime: string }>,
  batch: boolean,
): void {
  items.forEach((t, i) => {
    const fn = functions.get(t.functionId);
    if (!t.pickledArgs || !fn || fn.runtime === 'python') return;
    throw new FxException(
      'VALIDATION_FAILED',
      `${batch ? `tasks[${i}]: ` : ''}serializer "pickle" applies to python functions only; function ${fn.name} (${fn.id}) is a ${fn.runtime} function: send its arguments as JSON (serializer "json")`,
    );
  });
}

/**
 * A pickle task of another user's function, unless the caller said `trustPickle`: its result is a pickle
 * that function's code wrote, and the Python SDK unpickles it on the caller's machine, outside any
 * endpoint's sandbox. Unpickling runs whatever code the pickle names, so the author of a public function
 * could run code there: the caller must say they trust it.
 */
export function checkForeignPickles(
  ownerId: string,
  items: Array<Omit<NewTask, 'id'>>,
  functions: Map<string, { id: string; name: string; ownerId: string }>,
  trusted: ReadonlyArray<boolean | undefined>,
  batch: boolean,
): void {
  items.forEach((t, i) => {
    const fn = functions.get(t.functionId);
    if (!t.pickledArgs || !fn || fn.ownerId === ownerId || trusted[i] === true) return;
    throw new FxException(
      'FORBIDDEN',
      `${batch ? `tasks[${i}]: ` : ''}function ${fn.name} (${fn.id}) is another user's: with serializer "pickle" its result is a pickle its code wrote, and unpickling it on your machine runs whatever code it names; send the arguments as JSON, or say trustPickle: true (trust_pickle=True in Python) if you trust its author`,
    );
  });
}
