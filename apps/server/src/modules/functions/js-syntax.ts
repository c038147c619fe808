import { Script } from 'node:vm';

/**
 * Why a js function's source would not compile on an endpoint, or undefined when it would. Only
 * compiles (nothing runs on the server): the same two forms the agent's runtime accepts, a function
 * expression and a method shorthand (`add(a, b) { … }`, what `toString()` gives for methods).
 */
export function jsSyntaxProblem(source: string): string | undefined {
  const compiles = (code: string): string | undefined => {
    try {
      new Script(code, { filename: 'function.js' });
      return undefined;
    } catch (e) {
      // the message only: a SyntaxError's stack quotes the offending line, which may be the whole source
      const message = (e as { message?: unknown } | null)?.message;
      return typeof message === 'string' ? message : String(e);
    }
  };
  const asExpression = compiles(`(${source}\n)`);
  if (asExpression === undefined || compiles(`({${source}\n})`) === undefined) return undefined;
  return `the source does not compile as a JavaScript function expression: ${asExpression}`;
}
