import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomPrefix, tempDir, testRedisUrl, type TempDir } from '@fx/testing';
import { Redis } from 'ioredis';
import { BROKER_SCRIPTS, DEFAULT_SCRIPTS_DIR, loadBrokerScripts } from './broker.scripts.js';
import { RedisBroker } from './broker.redis.js';

const redisUrl = testRedisUrl();

describe('broker Lua scripts', () => {
  it('every script file loads with its includes expanded, and compiles on Redis', async () => {
    const scripts = await loadBrokerScripts();
    expect(Object.keys(scripts).sort()).toEqual(Object.keys(BROKER_SCRIPTS).sort());
    const redis = new Redis(redisUrl);
    try {
      for (const [name, spec] of Object.entries(BROKER_SCRIPTS)) {
        const script = scripts[name as keyof typeof BROKER_SCRIPTS];
        expect(script.numberOfKeys).toBe('numberOfKeys' in spec ? spec.numberOfKeys : undefined);
        expect(script.lua).not.toMatch(/@include/);
        // each include at most once: a second copy of its locals would be a Lua error in waiting
        expect((script.lua.match(/local SPAN = /g) ?? []).length).toBeLessThanOrEqual(1);
        // SCRIPT LOAD compiles without running: a syntax error fails here (broker.spec.ts runs each script)
        await expect(redis.script('LOAD', script.lua)).resolves.toMatch(/^[0-9a-f]{40}$/);
      }
    } finally {
      redis.disconnect();
    }
  });

  it('every .lua file in the scripts folder is a registered script (includes live in includes/)', () => {
    const files = readdirSync(DEFAULT_SCRIPTS_DIR).filter((f) => f.endsWith('.lua'));
    expect(files.sort()).toEqual(
      Object.values(BROKER_SCRIPTS)
        .map((s) => s.file)
        .sort(),
    );
  });

  describe('a build missing a script', () => {
    let dir: TempDir;
    beforeEach(async () => {
      dir = await tempDir('fx-broker-lua');
      cpSync(DEFAULT_SCRIPTS_DIR, dir.path, { recursive: true });
    });
    afterEach(() => dir.remove());

    it('refuses to start with a sentence naming the missing script', async () => {
      rmSync(join(dir.path, 'claim.lua'));
      const started = RedisBroker.connect({ url: redisUrl, prefix: randomPrefix(), scriptsDir: dir.path });
      await expect(started).rejects.toThrow(`cannot read the Redis broker's Lua script claim.lua at ${join(dir.path, 'claim.lua')} (ENOENT)`);
      await expect(started).rejects.toThrow(/copies apps\/server\/src\/storage\/lua to dist\/storage\/lua/);
    });

    it('and names a missing include', async () => {
      rmSync(join(dir.path, 'includes/fair-queue.lua'));
      await expect(loadBrokerScripts(dir.path)).rejects.toThrow(/Lua script includes\/fair-queue\.lua at .*\(ENOENT\)/);
    });
  });
});
