import { detectAccelerators, parseNvidiaSmi, pinningEnv, resolveAccelerators } from './accelerators.js';

// Captured from `nvidia-smi --query-gpu=index,uuid --format=csv,noheader` on a 4-GPU node.
const CAPTURED = `0, GPU-4f5e9c3a-8b1d-2e7f-9a6c-1d2e3f4a5b6c
1, GPU-7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d
2, GPU-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f
3, GPU-9f8e7d6c-5b4a-3c2d-1e0f-a9b8c7d6e5f4
`;

describe('accelerators', () => {
  it('parses captured nvidia-smi output into index and uuid', () => {
    expect(parseNvidiaSmi(CAPTURED)).toEqual([
      { id: '0', uuid: 'GPU-4f5e9c3a-8b1d-2e7f-9a6c-1d2e3f4a5b6c' },
      { id: '1', uuid: 'GPU-7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d' },
      { id: '2', uuid: 'GPU-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f' },
      { id: '3', uuid: 'GPU-9f8e7d6c-5b4a-3c2d-1e0f-a9b8c7d6e5f4' },
    ]);
    expect(parseNvidiaSmi('\n  \nNo devices were found\n')).toEqual([]);
  });

  it('auto asks nvidia-smi with the documented query', async () => {
    const calls: string[][] = [];
    const found = await detectAccelerators(async (file, args) => {
      calls.push([file, ...args]);
      return CAPTURED;
    });
    expect(calls).toEqual([['nvidia-smi', '--query-gpu=index,uuid', '--format=csv,noheader']]);
    expect(found.devices.map((d) => d.id)).toEqual(['0', '1', '2', '3']);
    expect(found.note).toMatch(/found 4 GPUs/);
  });

  it('auto reports none, clearly, where nvidia-smi is absent (this machine has no GPU)', async () => {
    const found = await detectAccelerators(undefined, 'nvidia-smi-that-does-not-exist');
    expect(found.devices).toEqual([]);
    expect(found.note).toBe('accelerators: auto found no GPUs (nvidia-smi-that-does-not-exist not found); workers are not pinned');
    const real = await resolveAccelerators('auto');
    expect(real.note).toMatch(/^accelerators: auto found/);
  });

  it('a configured list is taken as is, and pins every vendor variable', async () => {
    expect((await resolveAccelerators(['0', '1'])).devices).toEqual([{ id: '0' }, { id: '1' }]);
    expect(pinningEnv('1')).toEqual({ CUDA_VISIBLE_DEVICES: '1', ROCR_VISIBLE_DEVICES: '1', ZE_AFFINITY_MASK: '1', FX_ACCELERATOR: '1' });
  });
});
