/** Reported in `hello`; kept in step with package.json by the release script. */
export const AGENT_VERSION = '0.1.0';
