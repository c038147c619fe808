export { CliError } from './cli.error.js';
export { parsePositiveInt, parsePositiveNumber } from './option.parsers.js';
