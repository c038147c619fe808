import { execFile } from 'node:child_process';

/** Runs one scheduler command; resolves with stdout. */
export type CommandRunner = (file: string, args: string[]) => Promise<string>;

export const execCommand: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${(stderr || error.message).trim()}`, { cause: error }));
      else resolve(stdout);
    });
  });

export interface JobInfo {
  jobId: string;
  state: string;
  reason: string;
  nodes: string;
}

/** Slurm job states after which the job holds no nodes any more. */
const TERMINAL = new Set([
  'BOOT_FAIL',
  'CANCELLED',
  'COMPLETED',
  'DEADLINE',
  'FAILED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'TIMEOUT',
  'REVOKED',
  'SPECIAL_EXIT',
]);

export function isTerminalState(state: string): boolean {
  return TERMINAL.has(state.split(/[ +]/)[0] ?? state);
}

export const SQUEUE_FORMAT = '%i|%T|%r|%N';

/** Parses `squeue --noheader --format=%i|%T|%r|%N`. */
export function parseSqueue(output: string): Map<string, JobInfo> {
  const jobs = new Map<string, JobInfo>();
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [jobId, state, reason, nodes] = line.split('|');
    if (!jobId || !state) continue;
    jobs.set(jobId.trim(), { jobId: jobId.trim(), state: state.trim(), reason: (reason ?? '').trim(), nodes: (nodes ?? '').trim() });
  }
  return jobs;
}

/**
 * The three scheduler commands the provider needs. `squeue` is called once per poll for every job of
 * this agent (selected by job name and user), whatever their number; `sacct` is never called.
 */
export class SlurmCli {
  /** How many squeue calls were made (status shows it; tests check one per poll). */
  squeueCalls = 0;

  constructor(private readonly run: CommandRunner = execCommand) {}

  async sbatch(scriptPath: string): Promise<string> {
    const out = (await this.run('sbatch', ['--parsable', scriptPath])).trim();
    const jobId = out.split(';')[0]?.trim() ?? '';
    if (!/^\d+(_\d+)?$/.test(jobId)) throw new Error(`sbatch answered "${out}", not a job id`);
    return jobId;
  }

  /** Every job named `jobName` of `user`, terminal ones Slurm still remembers included. */
  async squeue(jobName: string, user: string): Promise<Map<string, JobInfo>> {
    this.squeueCalls++;
    return parseSqueue(await this.run('squeue', ['--noheader', `--name=${jobName}`, `--user=${user}`, '--states=all', `--format=${SQUEUE_FORMAT}`]));
  }

  async scancel(jobIds: string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.run('scancel', jobIds);
  }
}
