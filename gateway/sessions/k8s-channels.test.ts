import { describe, expect, it } from 'vitest';

import { decodeClientFrame, exitStatus, failureStatus, frame } from './k8s-channels.js';

describe('the v5.channel.k8s.io framing', () => {
  it('reads stdin, a resize and the close of stdin from a client', () => {
    expect(decodeClientFrame(Buffer.from('\x00ls -l\n', 'latin1'))).toEqual({ kind: 'stdin', data: Buffer.from('ls -l\n') });
    expect(decodeClientFrame(frame(4, '{"Width":120,"Height":40}'))).toEqual({ kind: 'resize', cols: 120, rows: 40 });
    // As @kubernetes/client-node's Exec sends it: the API server, like Go, takes the keys in any case.
    expect(decodeClientFrame(frame(4, '{"height":30,"width":100}'))).toEqual({ kind: 'resize', cols: 100, rows: 30 });
    expect(decodeClientFrame(Buffer.of(255, 0))).toEqual({ kind: 'close', channel: 0 });
  });

  it('refuses what a client does not send: an empty message, output channels, a bad resize', () => {
    expect(decodeClientFrame(Buffer.alloc(0)).kind).toBe('invalid');
    expect(decodeClientFrame(frame(1, 'x'))).toEqual({ kind: 'invalid', reason: 'channel 1 is not one a client sends on' });
    expect(decodeClientFrame(frame(4, 'not json')).kind).toBe('invalid');
    expect(decodeClientFrame(frame(4, '{"Width":0,"Height":40}')).kind).toBe('invalid');
    expect(decodeClientFrame(frame(4, '{"Width":80}')).kind).toBe('invalid');
    expect(decodeClientFrame(Buffer.of(255)).kind).toBe('invalid');
  });

  it('prefixes output with its channel byte', () => {
    expect([...frame(1, Buffer.from('hi'))]).toEqual([1, 0x68, 0x69]);
    expect([...frame(2, 'é')]).toEqual([2, 0xc3, 0xa9]);
  });

  it('reports the exit code on the error channel as the API server does', () => {
    expect(JSON.parse(exitStatus(0, '/bin/bash'))).toEqual({ metadata: {}, status: 'Success' });
    expect(JSON.parse(exitStatus(3, '/bin/bash'))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [/bin/bash], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      code: 500,
    });
    expect(JSON.parse(failureStatus('the provider stopped answering'))).toMatchObject({
      status: 'Failure',
      message: 'the provider stopped answering',
    });
  });
});
