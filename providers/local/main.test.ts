import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../shared/config.js';
import { readLocalDriverOptions } from './main.js';

const NATS = { NATS_URL: 'nats://127.0.0.1:4222' };

describe('local provider settings', () => {
  it('sandboxes by default: bwrap, no network, nobody, cgroups where there are some, 1024 processes', () => {
    expect(readLocalDriverOptions('edge', NATS)).toMatchObject({
      sandbox: 'bwrap',
      bwrapPath: '/usr/bin/bwrap',
      network: 'none',
      jobAccount: 'nobody',
      userAccounts: {},
      limits: 'auto',
      cgroupParent: undefined,
      pidsLimit: 1024,
      stateDir: expect.stringMatching(/switchyard-local-edge$/),
    });
  });

  it('reads a user map as a comma list or a JSON object', () => {
    expect(readLocalDriverOptions('edge', { ...NATS, SWITCHYARD_LOCAL_USER_MAP: 'alice=alice, bob=1001:1002' }).userAccounts).toEqual({
      alice: 'alice',
      bob: '1001:1002',
    });
    expect(readLocalDriverOptions('edge', { ...NATS, SWITCHYARD_LOCAL_USER_MAP: '{"carol":"2000"}' }).userAccounts).toEqual({ carol: '2000' });
    expect(
      readLocalDriverOptions('edge', {
        ...NATS,
        SWITCHYARD_LOCAL_SANDBOX: 'none',
        SWITCHYARD_LOCAL_NETWORK: 'host',
        SWITCHYARD_LOCAL_JOB_USER: '1234',
        SWITCHYARD_LOCAL_LIMITS: 'rlimit',
      }),
    ).toMatchObject({ sandbox: 'none', network: 'host', jobAccount: '1234', limits: 'rlimit' });
  });

  it('names every bad variable at once', () => {
    const bad = {
      ...NATS,
      SWITCHYARD_LOCAL_SANDBOX: 'chroot',
      SWITCHYARD_LOCAL_NETWORK: 'open',
      SWITCHYARD_LOCAL_JOB_USER: 'not a user!',
      SWITCHYARD_LOCAL_USER_MAP: 'alice',
      SWITCHYARD_LOCAL_PIDS_LIMIT: '0',
      SWITCHYARD_LOCAL_BWRAP: 'bwrap',
    };
    let error: unknown;
    try {
      readLocalDriverOptions('edge', bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of Object.keys(bad).filter((key) => key !== 'NATS_URL')) expect(problems).toContain(name);
    expect(problems).toContain('"alice" is not user=account');
  });
});
