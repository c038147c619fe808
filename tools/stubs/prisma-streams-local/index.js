// FX pins a stand-in for @prisma/streams-local: the real package needs Node 22 and only `prisma dev`
// (a local development server FX does not use) loads it. Anything that reaches here says so.
export async function startLocalDurableStreamsServer() {
  throw new Error('@prisma/streams-local is replaced by a stand-in in FX (tools/stubs): "prisma dev" is not supported here');
}
