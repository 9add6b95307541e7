import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { keysOfScript } from './lua-scripts.js';

describe('Lua script names', () => {
  it('give the number of keys, or none for a script that takes it per call', () => {
    expect(keysOfScript('change-job-27.lua')).toBe(27);
    expect(keysOfScript('charge-n.lua')).toBeUndefined();
    expect(() => keysOfScript('charge.lua')).toThrow(/number of keys/);
  });

  it('name every script in the project, and no script reads a key beyond its number', () => {
    for (const dir of ['../store/lua/', '../accounting/lua/']) {
      const url = new URL(dir, import.meta.url);
      for (const file of readdirSync(url)) {
        const keys = keysOfScript(file);
        const named = [...readFileSync(new URL(file, url), 'utf8').matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
        if (keys !== undefined) expect(Math.max(0, ...named), file).toBeLessThanOrEqual(keys);
      }
    }
  });
});
