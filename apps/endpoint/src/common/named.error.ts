/**
 * An Error whose `name` is its class's own (`SpoolError`, `ConfigError`, …), so that logs and the CLI say
 * which kind it was without each class setting it; the classes are not bundled, so the names survive.
 */
export class NamedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
