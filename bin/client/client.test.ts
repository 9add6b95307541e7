/** The command line's pure parts: durations, the job specification `run` sends, exit codes, relative times. */
import { execFileSync } from 'node:child_process';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { bashCompletion } from './commands/completion.js';
import { runSpecification } from './commands/jobs.js';
import { exitCodeOfStatus } from './commands/shell.js';
import { durationMs, formatDuration, simpleDuration } from './durations.js';
import { CliError, EXIT } from './exit-codes.js';
import { exitCodeOf } from './follow.js';
import { relativeTime } from './output.js';
import { registerClientCommands } from './register.js';
import { chooseSignIn } from './sso.js';

describe('durations', () => {
  it('reads the usual forms and rounds up to whole seconds', () => {
    expect(simpleDuration('1h30m', '--time')).toEqual({ hours: 1, minutes: 30, seconds: 0 });
    expect(simpleDuration('90s', '--time')).toEqual({ hours: 0, minutes: 1, seconds: 30 });
    expect(simpleDuration('2d', '--time')).toEqual({ hours: 48, minutes: 0, seconds: 0 });
    expect(simpleDuration('1.5s', '--time')).toEqual({ hours: 0, minutes: 0, seconds: 2 });
    expect(formatDuration({ hours: 1, minutes: 0, seconds: 5 })).toBe('1h5s');
  });

  it('refuses a bare number, nonsense and zero as usage errors', () => {
    for (const text of ['10', 'soon', '0s', '-5m', '']) {
      expect(() => durationMs(text, '--time'), text).toThrow(CliError);
      try {
        durationMs(text, '--time');
      } catch (error) {
        expect((error as CliError).exitCode).toBe(EXIT.usage);
      }
    }
  });
});

describe("run's job specification", () => {
  const base = { replicas: 1 };
  it('names a product, or requirements routed by the gateway', () => {
    expect(runSpecification(['echo', 'hi'], { ...base, product: 'small', provider: 'local', time: '10m' }, undefined)).toEqual({
      product: { id: 'small', provider: 'local' },
      command: ['echo', 'hi'],
      replicas: 1,
      timeAllocation: { hours: 0, minutes: 10, seconds: 0 },
    });
    expect(
      runSpecification(
        [],
        { replicas: 2, cpu: 4, gpu: 1, backend: 'docker', provider: 'k8s', waitFor: '2m', env: { A: '1' }, tag: ['x', 'y'] },
        'genomics',
      ),
    ).toEqual({
      requirements: { cpu: 4, gpu: 1, backend: 'DOCKER', providers: ['k8s'] },
      replicas: 2,
      env: { A: '1' },
      tags: ['x', 'y'],
      scheduleTimeout: 120,
      project: 'genomics',
    });
  });

  it('refuses contradictory choices before asking the gateway', () => {
    expect(() => runSpecification([], { ...base, product: 'small', provider: 'local', cpu: 1 }, undefined)).toThrow(/not both/);
    expect(() => runSpecification([], { ...base, product: 'small' }, undefined)).toThrow(/needs --provider/);
    expect(() => runSpecification([], { ...base, provider: 'local' }, undefined)).toThrow(/without --product/);
  });
});

describe('exit codes', () => {
  it('a followed job exits with its own code, EXPIRED as timeout(1) does', () => {
    expect(exitCodeOf({ state: 'SUCCESS', exitCode: 3 })).toBe(3);
    expect(exitCodeOf({ state: 'SUCCESS', exitCode: null })).toBe(0);
    expect(exitCodeOf({ state: 'EXPIRED', exitCode: null })).toBe(124);
    expect(exitCodeOf({ state: 'FAILURE', exitCode: null })).toBe(1);
  });

  it("reads the exit code from the session's closing Status", () => {
    expect(exitCodeOfStatus({ status: 'Success' })).toBe(0);
    expect(exitCodeOfStatus({ status: 'Failure', details: { causes: [{ reason: 'ExitCode', message: '42' }] } })).toBe(42);
    expect(exitCodeOfStatus({ status: 'Failure', message: 'the provider stopped answering' })).toBeNull();
  });
});

describe('relative times', () => {
  it("says how long ago or how soon, by the reader's clock", () => {
    const now = Date.now();
    expect(relativeTime(new Date(now - 5_000).toISOString(), now)).toBe('5s ago');
    expect(relativeTime(new Date(now + 3 * 3_600_000).toISOString(), now)).toBe('in 3h');
    expect(relativeTime(new Date(now - 2 * 86_400_000).toISOString(), now)).toBe('2d ago');
    expect(relativeTime(null, now)).toBeNull();
  });
});

describe('shell completion', () => {
  const program = new Command('switchyard');
  registerClientCommands(program, []);
  /** What bash completes for these words (the last one being typed). */
  const complete = (...words: string[]) =>
    execFileSync(
      'bash',
      [
        '-c',
        `${bashCompletion(program)}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _switchyard; echo "\${COMPREPLY[@]}"`,
      ],
      {
        encoding: 'utf8',
      },
    ).trim();

  it('completes commands, then the options of the command being typed, global options included', () => {
    expect(complete('switchyard', 'lo')).toBe('login logout logs');
    expect(complete('switchyard', '--json', 'run', '--fo')).toBe('--follow');
    expect(complete('switchyard', 'ps', '--st')).toBe('--state');
    expect(complete('switchyard', 'shell', '--')).toContain('--rank');
    expect(complete('switchyard', 'shell', '--')).toContain('--project');
    expect(complete('switchyard', 'status', '--fo')).toBe('');
  });
});

describe('option values', () => {
  it('refuses what is not the number asked for, before anything is sent', async () => {
    const { integer, nonNegativeInteger, positiveInteger, positiveNumber, keyValue, collect } = await import('./option-values.js');
    expect([integer('-2'), nonNegativeInteger('0'), positiveInteger('3'), positiveNumber('0.5')]).toEqual([-2, 0, 3, 0.5]);
    for (const [parse, text] of [
      [integer, '1.5'],
      [integer, ''],
      [nonNegativeInteger, '-1'],
      [positiveInteger, 'abc'],
      [positiveInteger, '0'],
      [positiveNumber, '0'],
      [positiveNumber, 'Infinity'],
    ] as const) {
      expect(() => parse(text), `${parse.name}(${text})`).toThrow();
    }
    expect(keyValue('B=2=3', { A: '1' })).toEqual({ A: '1', B: '2=3' });
    expect(() => keyValue('=x')).toThrow(/NAME=VALUE/);
    expect(collect('b, c', ['a'])).toEqual(['a', 'b', 'c']);
  });
});

describe('choosing the issuer to sign in with', () => {
  const corp = { issuer: 'https://id.corp.example/', clientId: 'cli', scope: 'openid offline_access' };
  const lab = { issuer: 'https://id.lab.example/realms/lab', clientId: 'cli', scope: 'openid' };
  const failure = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      return error as CliError;
    }
    throw new Error('did not fail');
  };

  it('takes the only issuer offered, or the one named (with or without its trailing slash)', () => {
    expect(chooseSignIn([corp], undefined)).toBe(corp);
    expect(chooseSignIn([corp, lab], 'https://id.lab.example/realms/lab/')).toBe(lab);
    expect(chooseSignIn([corp, lab], 'https://id.corp.example')).toBe(corp);
  });

  it('asks for a name among several, refuses one not offered (usage errors), and says when there is none (refused)', () => {
    expect(failure(() => chooseSignIn([corp, lab], undefined))).toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining(lab.issuer) });
    expect(failure(() => chooseSignIn([corp], 'https://id.other.example/'))).toMatchObject({ exitCode: EXIT.usage });
    expect(failure(() => chooseSignIn([], undefined))).toMatchObject({ exitCode: EXIT.refused });
  });
});
