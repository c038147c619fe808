import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * Docker does not run in CI, so the image and the compose file are checked by reading them: the image
 * builds from the lockfile on a pinned base, and the endpoint service can reach neither the server's
 * data (where the admin token lives) nor the admin token itself.
 */
const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string> | string[];
  volumes?: Array<string | { source?: string; target?: string }>;
}
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };

const volumeSource = (v: string | { source?: string }) => (typeof v === 'string' ? v.split(':')[0]! : (v.source ?? ''));
const envPairs = (env: Service['environment']): Array<[string, string]> =>
  Array.isArray(env) ? env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]) : Object.entries(env ?? {}).map(([k, v]) => [k, String(v)]);

describe('Dockerfile', () => {
  it('copies package-lock.json before installing and installs with npm ci, never npm install', () => {
    const copyLock = instructions.findIndex((l) => /^COPY\b/.test(l) && /\bpackage-lock\.json\b/.test(l));
    const runCi = instructions.findIndex((l) => /^RUN\b/.test(l) && /\bnpm ci\b/.test(l));
    expect(copyLock).toBeGreaterThanOrEqual(0);
    expect(runCi).toBeGreaterThan(copyLock);
    expect(instructions.filter((l) => /^RUN\b/.test(l) && /\bnpm (install|i)\b/.test(l))).toEqual([]);
  });

  it('pins every base image to an exact version', () => {
    const froms = instructions.filter((l) => /^FROM\b/.test(l)).map((l) => l.split(/\s+/)[1]!);
    expect(froms.length).toBeGreaterThan(0);
    for (const image of froms) expect(image).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$|@sha256:[0-9a-f]{64}$/);
  });
});

describe('docker-compose.yml', () => {
  const endpoint = compose.services['endpoint']!;
  const serverVolumes = (compose.services['server']!.volumes ?? []).map(volumeSource);

  it('has a server with a data volume, and an endpoint service', () => {
    expect(serverVolumes.length).toBeGreaterThan(0);
    expect(endpoint).toBeDefined();
  });

  it('does not give the endpoint the server data volume', () => {
    const mine = (endpoint.volumes ?? []).map(volumeSource);
    for (const v of serverVolumes) expect(mine).not.toContain(v);
  });

  it('does not give the endpoint the admin token in its environment or command', () => {
    for (const [k, v] of envPairs(endpoint.environment)) {
      expect(k).not.toMatch(/ADMIN/i);
      expect(v).not.toMatch(/admin\.token/);
    }
    expect(JSON.stringify([endpoint.entrypoint, endpoint.command])).not.toMatch(/admin/i);
  });
});
