import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { eventually } from '@fx/testing';
import { runShell } from '../../runtimes/shell/shell.runtime.js';
import { SANDBOX_UID_COUNT, SANDBOX_UID_FIRST } from './sandbox-uids.js';
import { SandboxError, WorkerSandbox, probeBwrap } from './worker.sandbox.js';

const never = () => new AbortController().signal;

describe('WorkerSandbox', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('passes on only the allow-list: no FX_*, tokens or database URLs; HOME is the private dir', () => {
    Object.assign(process.env, {
      FX_HOME: '/x',
      FX_DATA_DIR: '/y',
      DATABASE_URL: 'postgres://p',
      REDIS_URL: 'redis://r',
      GITHUB_TOKEN: 't',
      LC_ALL: 'C',
      TZ: 'UTC',
    });
    const env = new WorkerSandbox().env('/tmp/fx-worker-x', { CUDA_VISIBLE_DEVICES: '1', FX_ACCELERATOR: '1' });
    const allowed = new Set(['CUDA_VISIBLE_DEVICES', 'FX_ACCELERATOR', 'HOME', 'LC_ALL', 'LANG', 'LANGUAGE', 'PATH', 'TERM', 'TMPDIR', 'TZ']);
    expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
    expect(env).toMatchObject({ CUDA_VISIBLE_DEVICES: '1', FX_ACCELERATOR: '1', LC_ALL: 'C', TZ: 'UTC' });
    expect(env.HOME).toBe('/tmp/fx-worker-x');
  });

  it('all-but-secrets keeps what a block built (modules) but not FX settings or secret-named variables', () => {
    Object.assign(process.env, {
      FX_HOME: '/x',
      FX_BLOCK_SECRET: 's',
      DATABASE_URL: 'postgres://p',
      MY_API_KEY: 'k',
      LD_LIBRARY_PATH: '/opt/lib',
      SLURM_JOB_ID: '7',
      FX_TEST_INIT: '1',
    });
    const env = new WorkerSandbox({ kind: 'none', inherit: 'all-but-secrets' }).env('/tmp/d');
    expect(env).toMatchObject({ LD_LIBRARY_PATH: '/opt/lib', SLURM_JOB_ID: '7', FX_TEST_INIT: '1' });
    for (const key of ['FX_HOME', 'FX_BLOCK_SECRET', 'DATABASE_URL', 'MY_API_KEY']) expect(env[key]).toBeUndefined();
  });

  it('under bwrap a shell task sees hidden directories empty and cannot write outside its dir and /tmp', async () => {
    expect(probeBwrap()).toBeUndefined(); // .ci/run installs bubblewrap
    const secretDir = await mkdtemp(join(process.cwd(), '.fx-sandbox-spec-'));
    try {
      await writeFile(join(secretDir, 'token'), 'secret');
      const sandbox = new WorkerSandbox({ kind: 'bwrap', hide: [secretDir] });
      const out = await runShell(
        {
          template: 'cat {f} 2>&1; ls -A {d}; touch {w} 2>&1; echo x > ./mine && cat ./mine',
          kwargs: { f: join(secretDir, 'token'), d: secretDir, w: join(process.cwd(), 'package.json') },
        },
        never(),
        { sandbox },
      );
      expect(out).toMatchObject({ status: 'success' });
      const stdout = (out as { result: { stdout: string } }).result.stdout;
      expect(stdout).not.toContain('secret');
      expect(stdout).toMatch(/No such file|Read-only file system/);
      expect(stdout.trim().endsWith('x')).toBe(true);
    } finally {
      await rm(secretDir, { recursive: true, force: true });
    }
  });

  it('with network off, a task under bwrap reaches no service of the host, only its own loopback', async () => {
    const server = createServer((socket) => socket.end('host service\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const connect = `python3 -c "import socket; s = socket.create_connection(('127.0.0.1', ${port}), 5); print(s.recv(64).decode().strip())" 2>&1 | tail -n 1`;
    const ran = (sandbox: WorkerSandbox) => runShell({ template: connect, kwargs: {} }, never(), { sandbox });
    try {
      expect(await ran(new WorkerSandbox({ kind: 'bwrap' }))).toMatchObject({ status: 'success', result: { stdout: 'host service\n' } });
      const cut = await ran(new WorkerSandbox({ kind: 'bwrap', network: false }));
      expect((cut as { result: { stdout: string } }).result.stdout).toMatch(/ConnectionRefusedError|Network is unreachable/);
      // its own loopback works: a task may still talk to itself
      const own = await runShell(
        {
          template: `python3 -c "import socket; a = socket.create_server(('127.0.0.1', 0)); socket.create_connection(a.getsockname()); print('own')"`,
          kwargs: {},
        },
        never(),
        { sandbox: new WorkerSandbox({ kind: 'bwrap', network: false }) },
      );
      expect(own).toMatchObject({ status: 'success', result: { stdout: 'own\n' } });
    } finally {
      server.close();
    }
  });

  it('refuses sandboxNetwork: false where only bubblewrap could honour it', () => {
    expect(() => WorkerSandbox.resolve('none', { network: false })).toThrow(/sandboxNetwork: false needs bubblewrap/);
  });

  it('under bwrap a task has its own System V IPC: a shared memory segment another task left is not there', async () => {
    const sandbox = new WorkerSandbox({ kind: 'bwrap' });
    const ran = (template: string) => runShell({ template, kwargs: {} }, never(), { sandbox });
    const made = await ran('ipcmk -M 4096 -p 0600 > /dev/null && ipcs -m | tail -n +4 | grep -c .');
    expect(made).toMatchObject({ status: 'success', result: { stdout: '1\n' } });
    // the segment an earlier task made (it outlives its process) is not visible to the next one
    const seen = await ran('ipcs -m | tail -n +4 | grep -c . || true');
    expect((seen as { result: { stdout: string } }).result.stdout.trim()).toBe('0');
  });

  it('under bwrap a task cannot read past file modes, even when the agent runs as root (the object stage stays unlistable)', async () => {
    // an unlistable directory like the object stage (0311), with a file of the agent's that only its owner may read
    const dir = await mkdtemp(join(process.cwd(), '.fx-sandbox-spec-'));
    try {
      await mkdir(join(dir, 'stage', 'task-a'), { recursive: true });
      await writeFile(join(dir, 'stage', 'task-a', 'input'), 'staged');
      await writeFile(join(dir, 'private'), 'private');
      await chmod(join(dir, 'private'), 0o000);
      await chmod(join(dir, 'stage'), 0o311);
      const sandbox = new WorkerSandbox({ kind: 'bwrap', show: [dir] });
      const out = await runShell(
        {
          template: 'ls {stage} 2>&1; cat {private} 2>&1; cat {known}',
          kwargs: { stage: join(dir, 'stage'), private: join(dir, 'private'), known: join(dir, 'stage', 'task-a', 'input') },
        },
        never(),
        { sandbox },
      );
      const stdout = (out as { result: { stdout: string } }).result.stdout;
      // a directory it was told of is reachable; listing the stage and reading a file closed to all are not
      expect(stdout).toContain('staged');
      expect(stdout).not.toContain('task-a');
      expect(stdout).not.toMatch(/^private$/m);
      expect(stdout.match(/Permission denied/g)?.length).toBe(2);
    } finally {
      await chmod(join(dir, 'stage'), 0o700).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("under bwrap a task sees none of the agent user's runtime dir: not its sockets (the user bus, gpg and ssh agents)", async () => {
    // a directory standing in for /run/user/<uid>, named by XDG_RUNTIME_DIR, with a listening socket and a file
    const runtimeDir = await mkdtemp(join(process.cwd(), '.fx-sandbox-run-'));
    const bus = createServer((socket) => socket.end('user bus\n'));
    try {
      await writeFile(join(runtimeDir, 'note'), 'runtime');
      await new Promise<void>((resolve) => bus.listen(join(runtimeDir, 'bus'), resolve));
      const sandbox = new WorkerSandbox({ kind: 'bwrap', environment: { ...process.env, XDG_RUNTIME_DIR: runtimeDir } });
      const connect = `python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('bus'); print(s.recv(64).decode().strip())" 2>&1 | tail -n 1`;
      const template = `ls -A {d}; cat {f} 2>&1; cd {d} && ${connect}`;
      const out = await runShell({ template, kwargs: { d: runtimeDir, f: join(runtimeDir, 'note') } }, never(), { sandbox });
      const stdout = (out as { result: { stdout: string } }).result.stdout;
      expect(stdout).not.toMatch(/user bus|runtime|^bus$/m);
      expect(stdout).toMatch(/No such file/);
    } finally {
      bus.close();
      await rm(runtimeDir, { recursive: true, force: true });
    }
  });

  it('under bwrap a task cannot make a user namespace (in one it would read past the modes of its own files)', async () => {
    const sandbox = new WorkerSandbox({ kind: 'bwrap' });
    // -U alone: a root agent's task (capabilities dropped) could still make one; -Ur: an unprivileged agent's
    const out = await runShell({ template: 'unshare -U true; echo "U=$?"; unshare -Ur true; echo "Ur=$?"; id -u', kwargs: {} }, never(), { sandbox });
    const stdout = (out as { result: { stdout: string } }).result.stdout;
    expect(stdout).toMatch(/^U=1$/m);
    expect(stdout).toMatch(/^Ur=1$/m);
    // its uid stays the agent's
    expect(stdout.trim().split('\n').pop()).toBe(String(process.getuid?.()));
  });

  it('lets tasks make user namespaces when asked (containers), and says so: such an agent runs only its owner’s tasks', async () => {
    expect(new WorkerSandbox({ kind: 'bwrap' }).reported).toBe('bwrap');
    const sandbox = new WorkerSandbox({ kind: 'bwrap', userNamespaces: true });
    expect(sandbox.reported).toBe('bwrap-userns');
    const out = await runShell({ template: 'unshare -U true; echo "U=$?"', kwargs: {} }, never(), { sandbox });
    expect((out as { result: { stdout: string } }).result.stdout).toMatch(/^U=0$/m);
  });

  it('keeps FX and Node visible (read-only) when they live under a hidden dir, and still hides what lies inside them', async () => {
    // As for a repository cloned into the home dir or /tmp: hide its parent, and a secret inside it.
    const root = process.cwd();
    const secretDir = await mkdtemp(join(root, '.fx-sandbox-spec-'));
    try {
      await writeFile(join(secretDir, 'token'), 'secret');
      const sandbox = new WorkerSandbox({ kind: 'bwrap', hide: [dirname(root), secretDir] });
      const template = `${process.execPath} -e 'console.log(1 + 1)'; test -f {pkg} && echo fx-visible; cat {f} 2>&1; touch {w} 2>&1`;
      const out = await runShell(
        { template, kwargs: { pkg: join(root, 'package.json'), f: join(secretDir, 'token'), w: join(root, 'package.json') } },
        never(),
        { sandbox },
      );
      const stdout = (out as { result: { stdout: string } }).result.stdout;
      expect(stdout).toMatch(/^2\nfx-visible\n/);
      expect(stdout).not.toContain('secret');
      expect(stdout).toMatch(/Read-only file system/);
    } finally {
      await rm(secretDir, { recursive: true, force: true });
    }
  });

  it('shows a dir shown inside a hidden dir that lies in a shown one (the object stage under npm start in a home-dir clone)', async () => {
    // FX_HOME (hidden) inside the repository (shown, read-only) inside the home dir (hidden); the stage inside FX_HOME
    const root = process.cwd();
    const fxHome = await mkdtemp(join(root, '.fx-sandbox-spec-'));
    try {
      await writeFile(join(fxHome, 'token'), 'secret');
      await mkdir(join(fxHome, 'stage'));
      await writeFile(join(fxHome, 'stage', 'input'), 'staged');
      const sandbox = new WorkerSandbox({ kind: 'bwrap', hide: [dirname(root), fxHome] }).showing([join(fxHome, 'stage')]);
      const out = await runShell(
        { template: 'cat {s}; echo; cat {f} 2>&1', kwargs: { s: join(fxHome, 'stage', 'input'), f: join(fxHome, 'token') } },
        never(),
        {
          sandbox,
        },
      );
      const stdout = (out as { result: { stdout: string } }).result.stdout;
      expect(stdout).toMatch(/^staged\n/);
      expect(stdout).not.toContain('secret');
    } finally {
      await rm(fxHome, { recursive: true, force: true });
    }
  });

  it('resolves auto to bwrap where bubblewrap works, and none to no sandbox with a note', () => {
    expect(WorkerSandbox.resolve('auto').kind).toBe('bwrap');
    const none = WorkerSandbox.resolve('none');
    expect([none.kind, none.note]).toEqual(['none', expect.stringMatching(/sandbox: none/)]);
  });
});

describe('the uid sandbox (a root agent without bubblewrap)', () => {
  const sandbox = new WorkerSandbox({ kind: 'uid' });
  /** Whether `pid` runs (a zombie has ended: its parent, init, has not reaped it yet). */
  const alive = (pid: number) => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  const run = (dir: string, script: string) => {
    const spec = sandbox.command('/bin/sh', ['-c', script], dir);
    return spawnSync(spec.file, spec.args, { cwd: dir, uid: spec.uid, gid: spec.gid, env: sandbox.env(dir), encoding: 'utf8' });
  };

  it("runs each dir's processes as a user of its own: one can read neither another's dir nor its processes' environment", async () => {
    expect(process.getuid?.()).toBe(0); // .ci/run runs as root, as the Docker image's agent does
    const [a, b] = [await sandbox.workDir('fx-uid-a-'), await sandbox.workDir('fx-uid-b-')];
    const spec = sandbox.command('/bin/sleep', ['30'], b);
    const sleeper = spawn(spec.file, spec.args, { cwd: b, uid: spec.uid, gid: spec.gid, env: { ...sandbox.env(b), FX_SPEC_SECRET: 'b-only' } });
    try {
      const own = run(a, 'id -u; id -g; echo secret > note; chmod 644 note');
      expect(own.status).toBe(0);
      const [uid, gid] = own.stdout.trim().split('\n').map(Number);
      expect(gid).toBe(uid);
      expect(uid! >= SANDBOX_UID_FIRST && uid! < SANDBOX_UID_FIRST + SANDBOX_UID_COUNT).toBe(true);
      expect(run(a, 'cat note').stdout).toBe('secret\n');
      expect(spec.uid).not.toBe(uid);
      const other = run(b, `cat ${join(a, 'note')}`);
      expect([other.status, other.stderr]).toEqual([1, expect.stringMatching(/Permission denied/)]);
      const peek = run(a, `cat /proc/${sleeper.pid}/environ`);
      expect([peek.status, peek.stdout]).toEqual([1, '']);
    } finally {
      sleeper.kill('SIGKILL');
      await Promise.all([a, b].map((d) => rm(d, { recursive: true, force: true })));
    }
  });

  it("ends every process left running as a dir's user when the dir is released, and no other user's", async () => {
    const [a, b] = [await sandbox.workDir('fx-uid-a-'), await sandbox.workDir('fx-uid-b-')];
    // a daemon: a new session, out of the task's process group, which killing the group would not reach
    const started = (dir: string) => Number(run(dir, 'setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo $!').stdout.trim());
    const [left, other] = [started(a), started(b)];
    try {
      expect([alive(left), alive(other)]).toEqual([true, true]);
      await sandbox.release(a);
      await eventually(() => !alive(left), 4_000, 'the daemon of the released dir gone');
      expect(alive(other)).toBe(true);
      expect(existsSync(a)).toBe(false);
      // the dir is forgotten: the sandbox runs nothing in it any more
      expect(() => sandbox.command('/bin/true', [], a)).toThrow(SandboxError);
    } finally {
      for (const pid of [left, other]) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await Promise.all([a, b].map((d) => rm(d, { recursive: true, force: true })));
    }
  });

  it('leaves no daemon of a shell task running once the task is done', async () => {
    const out = await runShell({ template: 'setsid sleep 300 < /dev/null > /dev/null 2>&1 & echo $!', kwargs: {} }, never(), { sandbox });
    const pid = Number((out as { result: { stdout: string } }).result.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    await eventually(() => !alive(pid), 4_000, "the shell task's daemon gone");
  });

  it('makes what a task writes outside its dir (the shared /tmp) readable by its own user only', async () => {
    const dir = await sandbox.workDir('fx-uid-umask-');
    const file = join('/tmp', `fx-umask-${process.pid}-${Date.now()}`);
    try {
      const out = run(dir, `echo secret > ${file} && mkdir ${file}.d && stat -c %a ${file} ${file}.d`);
      expect([out.status, out.stdout.trim().split('\n')]).toEqual([0, ['600', '700']]);
    } finally {
      await Promise.all([file, `${file}.d`, dir].map((d) => rm(d, { recursive: true, force: true })));
    }
  });

  it("refuses a directory it did not make rather than run in it as the agent's user", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fx-uid-foreign-'));
    try {
      expect(() => sandbox.command('/bin/true', [], dir)).toThrow(SandboxError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('private working directories', () => {
  it('gives each shell task a fresh 0700 dir under the OS temp dir, removed afterwards', async () => {
    const out = await runShell({ template: 'pwd; stat -c %a .; echo $HOME', kwargs: {} }, never());
    const [cwd, mode, home] = (out as { result: { stdout: string } }).result.stdout.trim().split('\n');
    expect(cwd!.startsWith(join(tmpdir(), 'fx-task-'))).toBe(true);
    expect(mode).toBe('700');
    expect(home).toBe(cwd);
  });
});
