import { describe, expect, it } from 'vitest';

import { detailText, stitchedDetailsDocument } from './provider-details';

describe('provider details', () => {
  it('asks each kind for its own stitched field', () => {
    expect(stitchedDetailsDocument('LOCAL').toString()).toMatch(/job\(id: \$id\) \{ local \{ host pids/);
    expect(stitchedDetailsDocument('CLOUD_VM').toString()).toMatch(/cloudVm \{ vmName .* guest \{ vcpus memoryBytes \}/);
  });

  it('shows values as one line: lists joined, objects as key=value, nothing as a dash', () => {
    expect(detailText([101, 102])).toBe('101, 102');
    expect(detailText([])).toBe('—');
    expect(detailText(null)).toBe('—');
    expect(detailText([{ name: 'pod-0', phase: 'Running', node: null }])).toBe('name=pod-0 phase=Running node=—');
  });
});
