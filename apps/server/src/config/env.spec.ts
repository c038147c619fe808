import { ConfigError, loadConfig } from './env.js';

describe('the idle heartbeat cadence (FX_IDLE_HEARTBEAT_INTERVAL_MS)', () => {
  it('defaults to 6 normal intervals, with the timeout in the normal proportion', () => {
    const c = loadConfig({});
    expect([c.FX_IDLE_HEARTBEAT_INTERVAL_MS, c.FX_IDLE_HEARTBEAT_TIMEOUT_MS]).toEqual([30_000, 120_000]);
    const fast = loadConfig({ FX_HEARTBEAT_INTERVAL_MS: '500', FX_HEARTBEAT_TIMEOUT_MS: '3000' });
    expect([fast.FX_IDLE_HEARTBEAT_INTERVAL_MS, fast.FX_IDLE_HEARTBEAT_TIMEOUT_MS]).toEqual([3_000, 18_000]);
  });

  it('takes a set interval; equal to the normal one, the idle cadence is the normal cadence', () => {
    expect(loadConfig({ FX_IDLE_HEARTBEAT_INTERVAL_MS: '60000' }).FX_IDLE_HEARTBEAT_TIMEOUT_MS).toBe(240_000);
    const off = loadConfig({ FX_IDLE_HEARTBEAT_INTERVAL_MS: '5000' });
    expect([off.FX_IDLE_HEARTBEAT_INTERVAL_MS, off.FX_IDLE_HEARTBEAT_TIMEOUT_MS]).toEqual([5_000, 20_000]);
  });

  it('refuses an idle interval shorter than the normal one', () => {
    expect(() => loadConfig({ FX_IDLE_HEARTBEAT_INTERVAL_MS: '4999' })).toThrow(ConfigError);
    expect(() => loadConfig({ FX_IDLE_HEARTBEAT_INTERVAL_MS: '4999' })).toThrow(/FX_IDLE_HEARTBEAT_INTERVAL_MS: must be at least FX_HEARTBEAT_INTERVAL_MS/);
  });
});
