/** The marker scanner of the VM's serial shell: the guest's marker lines taken out of what the user sees, however the bytes are cut. */
import { describe, expect, it } from 'vitest';

import { createMarkerScanner, type LinePart } from './serial-shell.js';

const NONCE = 'n0nce';

/** Feeds the chunks, joining consecutive output parts. */
function scan(chunks: string[]): (string | Exclude<LinePart, { kind: 'output' }>)[] {
  const scanner = createMarkerScanner(NONCE);
  const out: (string | Exclude<LinePart, { kind: 'output' }>)[] = [];
  for (const chunk of chunks) {
    for (const part of scanner.feed(Buffer.from(chunk))) {
      if (part.kind !== 'output') out.push(part);
      else if (typeof out.at(-1) === 'string') out[out.length - 1] += part.bytes.toString();
      else out.push(part.bytes.toString());
    }
  }
  return out;
}

describe('the serial shell’s marker scanner', () => {
  const text = `stale\r\nSWITCHYARD-${NONCE} shell-open s1\r\nvm# echo hi\r\nhi\r\nvm# exit 3\r\nSWITCHYARD-${NONCE} shell-exit s1 3\r\n`;
  const expected = ['stale\r\n', { kind: 'open', id: 's1' }, 'vm# echo hi\r\nhi\r\nvm# exit 3\r\n', { kind: 'exit', id: 's1', exitCode: 3 }];

  it('finds the open and exit markers between the output, in order', () => {
    expect(scan([text])).toEqual(expected);
  });

  it('finds them the same when the bytes come one at a time, or cut anywhere', () => {
    expect(scan([...text])).toEqual(expected);
    for (let cut = 1; cut < text.length; cut++) expect(scan([text.slice(0, cut), text.slice(cut)])).toEqual(expected);
  });

  it('shows what only looks like a marker: another nonce, an unknown word, a line past the longest marker', () => {
    const other = `SWITCHYARD-other shell-exit s1 3\r\n`;
    const unknown = `SWITCHYARD-${NONCE} shell-dance\r\n`;
    const long = `SWITCHYARD-${NONCE} shell-${'x'.repeat(300)}`;
    expect(scan([other, unknown, long])).toEqual([other + unknown + long]);
  });

  it('holds back a tail that may start a marker, and shows it once it does not', () => {
    const scanner = createMarkerScanner(NONCE);
    expect(scanner.feed(Buffer.from('abc SWITCHYARD-n0'))).toEqual([{ kind: 'output', bytes: Buffer.from('abc ') }]);
    expect(scanner.feed(Buffer.from('pe'))).toEqual([{ kind: 'output', bytes: Buffer.from('SWITCHYARD-n0pe') }]);
  });
});
