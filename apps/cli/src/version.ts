/** Kept in step with package.json by hand: the built CLI must not read files to know its version. */
export const CLI_VERSION = '0.1.0';
