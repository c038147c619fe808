import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { tempDir, type TempDir } from '@fx/testing';
import { WorkerSandbox } from '../../providers/sandbox/worker.sandbox.js';
import { PYTHON_REPORT_SCRIPT, PythonProbe, inspectPython, locatePython } from './python.probe.js';

/** The "Name==version" lines of an interpreter's distributions, read by a script of the test's own. */
function distributionLines(python: string, env: NodeJS.ProcessEnv = {}): string[] {
  const script = 'import importlib.metadata as m, json; print(json.dumps([d.metadata["Name"] + "==" + d.version for d in m.distributions()]))';
  const out = execFileSync(python, ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env } });
  return [...new Set(JSON.parse(out) as string[])].sort();
}
const sha256 = (lines: string[]) => createHash('sha256').update(lines.join('\n'), 'utf8').digest('hex');

let dir: TempDir;
beforeAll(async () => {
  dir = await tempDir('fx-python-probe');
});
afterAll(async () => {
  await dir.remove();
});

describe('locatePython', () => {
  it('finds the real interpreter behind a name on PATH (a pyenv shim, say), its version and where it lives', async () => {
    const found = await locatePython('python3');
    expect(isAbsolute(found.executable) && existsSync(found.executable)).toBe(true);
    expect(found.version).toMatch(/^3\.\d+\.\d+/);
    expect(found.prefixes.length).toBeGreaterThan(0);
    for (const prefix of found.prefixes) expect(isAbsolute(prefix)).toBe(true);
  });

  it('says why a setting is not a usable interpreter', async () => {
    await expect(locatePython('/nonexistent/python3')).rejects.toThrow('no such program');
    await expect(locatePython('/bin/echo')).rejects.toThrow(/did not answer like a Python interpreter/);
  });
});

describe('inspectPython', () => {
  it("reports the workers' version, executable, and the digest and count of their distributions", async () => {
    const { installation, report } = await inspectPython('/usr/bin/python3');
    const version = execFileSync('/usr/bin/python3', ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
    expect(report).toMatchObject({ available: true, version, executable: '/usr/bin/python3' });
    expect(installation.executable).toBe('/usr/bin/python3');
    const lines = distributionLines('/usr/bin/python3');
    expect(lines.length).toBeGreaterThan(0);
    expect(report.distributions).toEqual({ count: lines.length, sha256: sha256(lines) });
  });

  it('sees what the workers see: a distribution on the PYTHONPATH a Slurm block passes on changes the digest', async () => {
    const site = join(dir.path, 'site');
    await mkdir(join(site, 'fx_probe_demo-1.2.3.dist-info'), { recursive: true });
    await writeFile(join(site, 'fx_probe_demo-1.2.3.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: fx-probe-demo\nVersion: 1.2.3\n');
    const environment = { ...process.env, PYTHONPATH: site };
    const blockLike = new WorkerSandbox({ kind: 'none', inherit: 'all-but-secrets', environment });
    const plain = (await inspectPython('/usr/bin/python3')).report;
    const { report } = await inspectPython('/usr/bin/python3', blockLike);
    const lines = distributionLines('/usr/bin/python3', { PYTHONPATH: site });
    expect(lines).toContain('fx-probe-demo==1.2.3');
    expect(report.distributions).toEqual({ count: plain.distributions.count + 1, sha256: sha256(lines) });
    // the allow-list sandbox of a local endpoint does not pass PYTHONPATH on, so neither does its probe
    const local = await inspectPython('/usr/bin/python3', new WorkerSandbox({ kind: 'none', environment }));
    expect(local.report.distributions).toEqual(plain.distributions);
  });

  it('runs the report as an unprivileged user under the uid sandbox: a Python every user can read works, one it cannot read is named', async () => {
    expect(process.getuid?.()).toBe(0); // the uid sandbox is the root agent's (the tests run as root here and in CI)
    const asNobody = new WorkerSandbox({ kind: 'uid' });
    expect((await inspectPython('/usr/bin/python3', asNobody)).report).toMatchObject({ available: true, executable: '/usr/bin/python3' });
    // like /root/.pyenv/versions/…: an interpreter inside a directory only root may enter
    const hidden = join(dir.path, 'private');
    await mkdir(join(hidden, 'bin'), { recursive: true });
    await chmod(hidden, 0o700);
    await symlink('/usr/bin/python3', join(hidden, 'bin', 'python3'));
    const python = join(hidden, 'bin', 'python3');
    expect((await inspectPython(python)).report.executable).toBe(python);
    await expect(inspectPython(python, asNobody)).rejects.toThrow(
      `${python} at ${python} is not readable by the unprivileged users tasks run as: spawn ${python} EACCES; tasks run as unprivileged users (a uid of their own per worker) because the agent runs as root`,
    );
  });

  it('the report script ships beside the python worker', () => {
    expect(PYTHON_REPORT_SCRIPT).toMatch(/apps\/endpoint\/python\/fx_python_report\.py$/);
    expect(existsSync(PYTHON_REPORT_SCRIPT)).toBe(true);
  });
});

describe('PythonProbe', () => {
  it('has nothing to report until probed, then the inspection; inspect() reuses it', async () => {
    const probe = new PythonProbe({ python: '/usr/bin/python3' });
    expect(probe.report()).toBeUndefined();
    probe.start();
    await probe.settled();
    expect(probe.report()).toMatchObject({ available: true, executable: '/usr/bin/python3' });
    const first = await probe.inspect();
    expect(await probe.inspect()).toBe(first);
  });

  it('reports a missing interpreter as unavailable, with the setting and the reason, never as an error', async () => {
    const probe = new PythonProbe({ python: '/nonexistent/python3' });
    probe.start();
    await probe.settled();
    expect(probe.report()).toEqual({ available: false, reason: '"/nonexistent/python3" (config.yaml "python:"): no such program' });
    // the failure stands for a while: asking again does not run anything
    await expect(probe.inspect()).rejects.toThrow('no such program');
  });
});
