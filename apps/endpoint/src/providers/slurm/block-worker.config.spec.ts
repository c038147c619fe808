import { BLOCK_SECRET_VAR, takeBlockSecret } from './block-worker.config.js';
import { renderBlockScript } from './block.script.js';

describe('takeBlockSecret', () => {
  it('reads the secret once and removes it, so the tasks the worker starts never inherit it', () => {
    const source: NodeJS.ProcessEnv = { [BLOCK_SECRET_VAR]: 's3cret', PATH: '/usr/bin' };
    expect(takeBlockSecret(source)).toBe('s3cret');
    expect(source).toEqual({ PATH: '/usr/bin' });
    expect(takeBlockSecret(source)).toBe('');
  });

  it('reads the variable the block script sets', () => {
    const script = renderBlockScript({
      jobName: 'fx-a',
      blockId: 'b1',
      secret: 'xyz',
      agentAddress: 'ws://h:1/',
      outputPath: '/tmp/o',
      walltime: '00:10:00',
      nodesPerBlock: 1,
      workersPerNode: 1,
      schedulerOptions: [],
      workerInit: '',
      launcher: 'none',
      mpiLauncher: 'srun',
      nodePath: '/usr/bin/node',
      workerEntry: '/w.js',
      shellOutputLines: 10,
    });
    expect(script).toContain(`export ${BLOCK_SECRET_VAR}='xyz'`);
  });
});
