/**
 * `@fx/protocol/node`: the parts of the contract that need Node's APIs, kept out of the main entry so the
 * console's browser bundle never pulls in node:crypto.
 */
export { functionContentHash, type FunctionContentSettings } from './content-hash.js';
