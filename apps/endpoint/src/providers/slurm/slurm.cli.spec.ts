import { renderBlockScript } from './block.script.js';
import { SlurmCli, isTerminalState, parseSqueue } from './slurm.cli.js';
import { formatWalltime, parseWalltime } from './walltime.js';
import { mpiCommand } from '../slots/mpi.launcher.js';

describe('Slurm commands', () => {
  it('watches every block with one squeue call, whatever their number', async () => {
    const calls: string[][] = [];
    const lines = Array.from({ length: 500 }, (_, i) => `${1000 + i}|${i % 2 ? 'RUNNING' : 'PENDING'}|None|${i % 2 ? 'node1' : ''}`).join('\n');
    const cli = new SlurmCli(async (file, args) => {
      calls.push([file, ...args]);
      return lines + '\n';
    });
    const jobs = await cli.squeue('fx-hpc-1234abcd', 'alice');
    expect(jobs.size).toBe(500);
    expect(calls).toEqual([['squeue', '--noheader', '--name=fx-hpc-1234abcd', '--user=alice', '--states=all', '--format=%i|%T|%r|%N']]);
    expect(cli.squeueCalls).toBe(1);
    expect(calls.flat()).not.toContain('sacct');
  });

  it('parses squeue lines and knows which states are over', () => {
    expect(parseSqueue('42|CANCELLED|None|vm\n43|PENDING|Resources|\n')).toEqual(
      new Map([
        ['42', { jobId: '42', state: 'CANCELLED', reason: 'None', nodes: 'vm' }],
        ['43', { jobId: '43', state: 'PENDING', reason: 'Resources', nodes: '' }],
      ]),
    );
    expect(['CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'COMPLETED', 'CANCELLED by 0'].every(isTerminalState)).toBe(true);
    expect(['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING'].some(isTerminalState)).toBe(false);
  });

  it('reads sbatch --parsable', async () => {
    expect(await new SlurmCli(async () => '1234;cluster\n').sbatch('/x.sh')).toBe('1234');
    await expect(new SlurmCli(async () => 'error').sbatch('/x.sh')).rejects.toThrow(/not a job id/);
  });

  it('converts walltimes both ways', () => {
    expect(parseWalltime('00:30:00')).toBe(1800);
    expect(parseWalltime('1-02:00:00')).toBe(93_600);
    expect(parseWalltime('90')).toBe(5400);
    expect(parseWalltime('10:30')).toBe(630);
    expect(parseWalltime('soon')).toBeUndefined();
    expect(formatWalltime(93_600)).toBe('1-02:00:00');
    expect(formatWalltime(600)).toBe('00:10:00');
  });

  it('renders a block script with every option, the secret and one worker per node via srun', () => {
    const script = renderBlockScript({
      jobName: 'fx-hpc-1234abcd',
      blockId: 'b1-abc',
      secret: 's3cret',
      agentAddress: 'ws://login1:4000/',
      outputPath: '/home/a/.fx/endpoints/hpc/blocks/b1-abc-%j.log',
      walltime: '00:30:00',
      nodesPerBlock: 2,
      workersPerNode: 4,
      coresPerWorker: 2,
      partition: 'gpu',
      account: 'proj1',
      qos: 'normal',
      schedulerOptions: ['--constraint=a100', '#SBATCH --mem=0'],
      workerInit: 'module load cuda',
      launcher: 'srun',
      mpiLauncher: 'srun',
      accelerators: ['0', '1'],
      nodePath: '/usr/bin/node',
      workerEntry: '/opt/fx/block.worker.js',
      shellOutputLines: 1000,
    });
    for (const line of [
      '#SBATCH --job-name=fx-hpc-1234abcd',
      '#SBATCH --nodes=2',
      '#SBATCH --time=00:30:00',
      '#SBATCH --cpus-per-task=8',
      '#SBATCH --partition=gpu',
      '#SBATCH --account=proj1',
      '#SBATCH --qos=normal',
      '#SBATCH --constraint=a100',
      '#SBATCH --mem=0',
      'module load cuda',
      "export FX_BLOCK_SECRET='s3cret'",
    ]) {
      expect(script).toContain(line);
    }
    expect(script).toMatch(/^exec srun --overlap --ntasks-per-node=1 --nodes=2 .*'--accelerators' '0,1'/m);
  });

  it('wraps MPI commands in the launcher with nodes × ranksPerNode ranks', () => {
    expect(mpiCommand('srun', 'echo hi', { nodes: 2, ranksPerNode: 3 })).toBe(
      "srun --overlap --overcommit --nodes=2 --ntasks-per-node=3 --ntasks=6 --kill-on-bad-exit=1 /bin/sh -c 'echo hi'",
    );
    expect(mpiCommand('mpiexec', "echo 'x'", { nodes: 1, ranksPerNode: 2 })).toBe("mpiexec -n 2 /bin/sh -c 'echo '\\''x'\\'''");
  });
});
