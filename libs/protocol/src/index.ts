export * from './common.js';
export * from './endpoint.js';
export * from './client.js';
export * from './rest.js';
export * from './frame.js';
export * from './console.js';
export * from './function-cache.js';
export * from './shell-template.js';
