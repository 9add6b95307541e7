import { describe, expect, it } from 'vitest';

import { strongest, withEntry } from './job-sharing';

describe('job sharing', () => {
  it('replaces an entity’s entry and keeps the others', () => {
    const acl = [
      { entity: 'bob', permissions: ['READ' as const] },
      { entity: 'lab/gpu', permissions: ['EDIT' as const] },
    ];
    expect(withEntry(acl, 'bob', 'ADMIN')).toEqual([
      { entity: 'lab/gpu', permissions: ['EDIT'] },
      { entity: 'bob', permissions: ['ADMIN'] },
    ]);
    expect(withEntry([], 'carol', 'READ')).toEqual([{ entity: 'carol', permissions: ['READ'] }]);
  });

  it('names the strongest permission an entry gives', () => {
    expect(strongest(['EDIT', 'READ'])).toBe('EDIT');
    expect(strongest([])).toBe('—');
  });
});
