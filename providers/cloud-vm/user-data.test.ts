/** The guest's user data (script and cpio archive) and how a VM's end maps to the job's final state: pure parts. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { finalChange } from './cloud-vm-states.js';
import { cpioArchive, jobScript, shellQuote, userDataArchive, userDataProblem } from './user-data.js';

describe('the guest’s user data', () => {
  it('is a script that sets the environment, enters the working directory and runs the command in its place, every word quoted', () => {
    const script = jobScript({ nonce: 'n', command: ['sh', '-c', "echo 'it''s' $HOME"], env: { A: "x'y" }, workingDir: '/srv/a b' });
    expect(script).toBe(
      [`export A='x'\\''y'`, `mkdir -p '/srv/a b' && cd '/srv/a b' || exit 126`, `exec 'sh' '-c' 'echo '\\''it'\\'''\\''s'\\'' $HOME'`, ''].join(
        '\n',
      ),
    );
    // The shell reads the quoted words back exactly.
    expect(execFileSync('sh', ['-c', `printf %s ${shellQuote('a\'b "c" $d')}`]).toString()).toBe('a\'b "c" $d');
    expect(jobScript({ nonce: 'n', command: null, env: {}, workingDir: null })).toBeNull();
  });

  it('refuses what the guest could not take: a variable name the shell cannot set, an empty command, a relative working directory', () => {
    expect(userDataProblem({ command: ['true'], env: { 'A-B': '1' }, workingDir: null })).toMatch(/not a shell name/);
    expect(userDataProblem({ command: [], env: {}, workingDir: null })).toMatch(/empty/);
    expect(userDataProblem({ command: ['true'], env: {}, workingDir: 'work' })).toMatch(/not absolute/);
    expect(userDataProblem({ command: null, env: { OK_1: '' }, workingDir: '/w' })).toBeNull();
  });

  it('packs as a newc cpio archive that cpio itself lists, padded to whole blocks', () => {
    const archive = userDataArchive({ nonce: 'abc', command: ['true'], env: {}, workingDir: null });
    expect(archive.length % 512).toBe(0);
    expect(archive.subarray(0, 6).toString()).toBe('070701');
    const listed = execFileSync('busybox', ['cpio', '-t'], { input: archive }).toString().trim().split('\n');
    expect(listed).toEqual(['switchyard', 'switchyard/nonce', 'switchyard/job.sh']);
    // The guest's hostname, when given (the VM's name): /init sets it.
    const named = userDataArchive({ nonce: 'abc', command: null, env: {}, workingDir: null, hostname: 'vm-j1' });
    expect(execFileSync('busybox', ['cpio', '-i', '--to-stdout', 'switchyard/hostname'], { input: named }).toString()).toBe('vm-j1\n');
    expect(cpioArchive([]).subarray(110, 120).toString()).toBe('TRAILER!!!');
  });
});

describe('a VM’s end as the job’s final state', () => {
  it('is SUCCESS with the command’s exit code, the terminate or deadline the provider stopped it for, FAILURE for what broke', () => {
    expect(finalChange({ kind: 'exited', exitCode: 3 }, null, false)).toEqual({
      state: 'SUCCESS',
      status: 'Job finished with exit code 3',
      exitCode: 3,
    });
    expect(finalChange({ kind: 'stopped' }, { kind: 'expire' }, true).state).toBe('EXPIRED');
    expect(finalChange({ kind: 'stopped' }, { kind: 'terminate', reason: 'No more credits' }, true).status).toBe(
      'Your job has been terminated (No more credits)',
    );
    expect(finalChange({ kind: 'panic', detail: 'Kernel panic - not syncing: x' }, null, false)).toMatchObject({ state: 'FAILURE' });
    expect(finalChange({ kind: 'powered-off' }, null, true).state).toBe('SUCCESS');
    expect(finalChange({ kind: 'powered-off' }, null, false).state).toBe('FAILURE');
    expect(finalChange({ kind: 'crashed', detail: 'killed' }, null, false).status).toMatch(/QEMU ended unexpectedly: killed/);
    expect(finalChange({ kind: 'unresponsive', detail: 'QEMU stopped answering QMP' }, null, true)).toEqual({
      state: 'FAILURE',
      status: 'The VM stopped responding and was stopped: QEMU stopped answering QMP',
    });
  });
});
