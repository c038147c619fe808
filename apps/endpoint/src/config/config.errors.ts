/** A problem with the endpoint's configuration or its files, told as a sentence for the person at the CLI. */
export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}
