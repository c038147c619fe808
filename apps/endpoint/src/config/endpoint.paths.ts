import { join } from 'node:path';

/** Where one endpoint keeps its files: `$FX_HOME/endpoints/<name>/`. */
export interface EndpointPaths {
  dir: string;
  config: string;
  token: string;
  pid: string;
  log: string;
  status: string;
  spool: string;
  /** Parent of the per-task working directories of shell tasks. */
  work: string;
  /** Data by reference: the object cache, partial downloads, the stage workers read from, results from block nodes. */
  objects: string;
}

export function endpointsDir(home: string): string {
  return join(home, 'endpoints');
}

export function endpointPaths(home: string, name: string): EndpointPaths {
  const dir = join(endpointsDir(home), name);
  return {
    dir,
    config: join(dir, 'config.yaml'),
    token: join(dir, 'token'),
    pid: join(dir, 'endpoint.pid'),
    log: join(dir, 'endpoint.log'),
    status: join(dir, 'status.json'),
    spool: join(dir, 'spool'),
    work: join(dir, 'tasks'),
    objects: join(dir, 'objects'),
  };
}
