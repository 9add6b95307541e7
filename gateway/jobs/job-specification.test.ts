import { describe, expect, it } from 'vitest';

import { checkSpecificationInput, durationInputToMs, type JobSpecificationInput } from './job-specification.js';

const base: JobSpecificationInput = { requirements: { cpu: 1 }, command: ['true'] };
const refusal = (input: Partial<JobSpecificationInput>) => {
  try {
    checkSpecificationInput({ ...base, ...input });
    return null;
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
};

describe('checking a specification before routing and money', () => {
  it('takes a plain job and reports its replicas and time allocation', () => {
    expect(checkSpecificationInput({ ...base, replicas: 3, timeAllocation: { minutes: 2 } })).toEqual({ replicas: 3, timeAllocationMs: 120_000 });
    expect(checkSpecificationInput(base)).toEqual({ replicas: 1, timeAllocationMs: null });
  });

  it('refuses impossible counts, durations and commands with INVALID_INPUT', () => {
    expect(refusal({ replicas: 0 })).toMatchObject({ code: 'INVALID_INPUT', message: 'replicas must be 1 or more' });
    expect(refusal({ timeAllocation: { hours: 0, minutes: 0, seconds: 0 } })?.code).toBe('INVALID_INPUT');
    expect(refusal({ command: [] })?.code).toBe('INVALID_INPUT');
    expect(refusal({ command: [''] })?.code).toBe('INVALID_INPUT');
    expect(refusal({ command: null })).toMatchObject({ message: 'give a command or an application' });
    expect(refusal({ scheduleTimeout: -1 })?.message).toBe('scheduleTimeout must not be negative');
    expect(() => durationInputToMs({ minutes: -1 }, 'requestedTime')).toThrow(
      'requestedTime: hours, minutes and seconds must be whole and not negative',
    );
  });

  it('refuses names that are no valid text or too long: a lone surrogate, an empty or overlong project', () => {
    expect(refusal({ project: '\udfff\ud800' })).toEqual({ code: 'INVALID_INPUT', message: 'project must be valid Unicode text' });
    expect(refusal({ name: 'a\ud800' })?.message).toBe('name must be valid Unicode text');
    expect(refusal({ tags: ['ok', '\udc00'] })?.message).toBe('tags[1] must be valid Unicode text');
    expect(refusal({ project: '' })?.message).toBe('project must be 1 to 64 characters');
    expect(refusal({ project: 'p'.repeat(65) })?.message).toBe('project must be 1 to 64 characters');
    // A surrogate pair is one valid character.
    expect(refusal({ name: 'rocket \u{1F680}', project: 'team-\u{1F680}' })).toBeNull();
  });
});
