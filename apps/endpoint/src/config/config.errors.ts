import { NamedError } from '../common/named.error.js';

/** A problem with the endpoint's configuration or its files, told as a sentence for the person at the CLI. */
export class ConfigError extends NamedError {}
