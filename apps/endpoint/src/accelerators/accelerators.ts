import { execFile } from 'node:child_process';

/** One accelerator as the driver names it. */
export interface Accelerator {
  /** What goes into CUDA_VISIBLE_DEVICES (and ROCR_VISIBLE_DEVICES / ZE_AFFINITY_MASK): an index or a UUID. */
  id: string;
  uuid?: string;
}

/** `accelerators` in config.yaml: `auto` (ask nvidia-smi) or an explicit list of device ids. */
export type AcceleratorSetting = 'auto' | string[];

export interface DetectedAccelerators {
  devices: Accelerator[];
  /** One sentence on how they were found, or why none were (shown in the log and in `status`). */
  note: string;
}

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,uuid', '--format=csv,noheader'] as const;

/** Parses `nvidia-smi --query-gpu=index,uuid --format=csv,noheader`: one `index, uuid` line per GPU. */
export function parseNvidiaSmi(output: string): Accelerator[] {
  const devices: Accelerator[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const [index, uuid] = line.split(',').map((part) => part.trim());
    if (!index || !/^\d+$/.test(index)) continue;
    devices.push(uuid ? { id: index, uuid } : { id: index });
  }
  return devices;
}

export type ExecFn = (file: string, args: readonly string[]) => Promise<string>;

const defaultExec: ExecFn = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: 15_000, encoding: 'utf8' }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });

/**
 * `auto`: asks nvidia-smi. No nvidia-smi, or one that fails, means no accelerators, said plainly (never
 * an error: a CPU-only node is a normal node).
 */
export async function detectAccelerators(exec: ExecFn = defaultExec, command = 'nvidia-smi'): Promise<DetectedAccelerators> {
  let output: string;
  try {
    output = await exec(command, NVIDIA_SMI_ARGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `${command} not found` : `${command} failed: ${(error as Error).message.split('\n')[0]}`;
    return { devices: [], note: `accelerators: auto found no GPUs (${why}); workers are not pinned` };
  }
  const devices = parseNvidiaSmi(output);
  if (devices.length === 0) return { devices, note: `accelerators: auto found no GPUs (${command} listed none); workers are not pinned` };
  return {
    devices,
    note: `accelerators: auto found ${devices.length} GPU${devices.length === 1 ? '' : 's'} (${devices.map((d) => d.id).join(', ')}) with ${command}`,
  };
}

/** Resolves the config setting to the devices to pin workers to (empty: no pinning). */
export async function resolveAccelerators(setting: AcceleratorSetting | undefined, exec?: ExecFn): Promise<DetectedAccelerators> {
  if (setting === undefined) return { devices: [], note: '' };
  if (setting === 'auto') return detectAccelerators(exec);
  return { devices: setting.map((id) => ({ id })), note: `accelerators: configured ${setting.join(', ')}` };
}

/**
 * The environment that pins one worker to one device, for every vendor at once: NVIDIA (CUDA), AMD
 * (ROCm/HIP) and Intel (Level Zero) each read their own variable and ignore the others'.
 */
export function pinningEnv(deviceId: string): Record<string, string> {
  return {
    CUDA_VISIBLE_DEVICES: deviceId,
    ROCR_VISIBLE_DEVICES: deviceId,
    ZE_AFFINITY_MASK: deviceId,
    FX_ACCELERATOR: deviceId,
  };
}
