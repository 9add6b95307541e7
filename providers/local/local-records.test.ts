/**
 * A restarted local provider reads the job records an earlier version wrote
 * (byte for byte what the driver before the SDK's job book saved, and an
 * older one without accounts and cgroups): a job that ended keeps its end,
 * one that ran is ended FAILURE and says why.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { systemClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import type { Driver, DriverContext, DriverJobChange } from '../sdk/index.js';
import { createLocalDriver } from './local-driver.js';

const ENDED =
  '{"v":1,"id":"job-ended","driverInstance":"3f1c2b1e-0000-4000-8000-000000000001","bootId":"another-boot","state":"SUCCESS","status":"Job finished with exit code 3","exitCode":3,"startedAt":1796000000000,"expiresAt":null,"suspendedAt":null,"providerGeneratedId":"4321","productId":"local-small","cpu":1,"memoryInGigs":1,"replicas":1,"ending":null,"endingReason":null,"account":{"uid":65534,"gid":65534,"name":"nobody"},"ranks":[{"rank":0,"pid":4321,"pgid":4321,"startTicks":"123","exitCode":3,"cgroups":[],"outOfMemory":false}]}';
/** From before accounts, cgroups and termination reasons were recorded; its processes ran in another boot. */
const RAN =
  '{"v":1,"id":"job-ran","driverInstance":"3f1c2b1e-0000-4000-8000-000000000002","bootId":"another-boot","state":"RUNNING","status":"Job started on host (1 process)","exitCode":null,"startedAt":1796000000000,"expiresAt":1796000060000,"suspendedAt":null,"providerGeneratedId":"4322","productId":"local-small","cpu":1,"memoryInGigs":1,"replicas":1,"ending":null,"ranks":[{"rank":0,"pid":4322,"pgid":4322,"startTicks":"124","exitCode":null}]}';

describe('local job records written by the earlier driver', () => {
  let stateDir: string;
  let driver: Driver | null = null;

  afterEach(async () => {
    await driver?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('are read back at start: an ended job keeps its end, one that ran ends FAILURE', async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'sy-local-records-'));
    mkdirSync(join(stateDir, 'jobs'), { recursive: true });
    writeFileSync(join(stateDir, 'jobs', 'job-ended.json'), ENDED);
    writeFileSync(join(stateDir, 'jobs', 'job-ran.json'), RAN);
    const events: Array<[string, DriverJobChange]> = [];
    const context: DriverContext = {
      providerId: 'local',
      clock: systemClock,
      logger: silentLogger(),
      emit: (id, change) => events.push([id, change]),
      log: () => undefined,
    };
    driver = createLocalDriver({ stateDir });
    await driver.start(context);

    expect(await driver.observe('job-ended')).toEqual({
      id: 'job-ended',
      state: 'SUCCESS',
      status: 'Job finished with exit code 3',
      exitCode: 3,
      startedAt: 1796000000000,
      expiresAt: null,
      providerGeneratedId: '4321',
    });
    expect(await driver.observe('job-ran')).toMatchObject({
      state: 'FAILURE',
      status: 'The local provider restarted while the job ran; its processes were stopped',
      providerGeneratedId: '4322',
    });
    expect(events).toEqual([['job-ran', { state: 'FAILURE', status: 'The local provider restarted while the job ran; its processes were stopped' }]]);
    // Saved again in the same form, the fields it lacked filled in.
    const saved = JSON.parse(readFileSync(join(stateDir, 'jobs', 'job-ran.json'), 'utf8'));
    expect(saved).toEqual({
      ...JSON.parse(RAN),
      state: 'FAILURE',
      status: 'The local provider restarted while the job ran; its processes were stopped',
      endedAt: expect.any(Number),
      endingReason: null,
      account: null,
      ranks: [{ rank: 0, pid: 4322, pgid: 4322, startTicks: '124', exitCode: null, cgroups: [], outOfMemory: false }],
    });
  });
});
