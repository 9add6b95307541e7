import { describe, expect, it } from 'vitest';

import { splitCommand } from './command-line';

describe('splitCommand', () => {
  it('splits at spaces and keeps quoted words together, with no expansion', () => {
    expect(splitCommand('python3  train.py --epochs 3')).toEqual(['python3', 'train.py', '--epochs', '3']);
    expect(splitCommand(`sh -c 'echo "hi there"; echo $HOME'`)).toEqual(['sh', '-c', 'echo "hi there"; echo $HOME']);
    expect(splitCommand('echo "a \\"quoted\\" word" b\\ c')).toEqual(['echo', 'a "quoted" word', 'b c']);
    expect(splitCommand(`printf '' x`)).toEqual(['printf', '', 'x']);
    expect(splitCommand('   ')).toEqual([]);
  });

  it('refuses an unclosed quote rather than guess', () => {
    expect(() => splitCommand(`echo 'half`)).toThrow(/unclosed single quote/);
    expect(() => splitCommand('echo "half')).toThrow(/unclosed double quote/);
  });
});
