/** Ends a command with a sentence and an exit code, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    /** 1: the operation failed; 2: the command was used wrongly. */
    readonly exitCode: 1 | 2 = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
