import { describe, expect, it } from 'vitest';

import { DATA_FRAME_VERSION, decodeFrame, encodeControlMessage, encodeDataFrame, MAX_SESSION_CHUNK_BYTES } from './session-frames.js';

describe('session frames', () => {
  it('carries a data chunk with its channel and offset in a 10-byte header, the bytes as they are', () => {
    const chunk = Buffer.from([0, 1, 0x7b, 0xff, 0x80]);
    const offset = 2 ** 40 + 12_345;
    const frame = encodeDataFrame(2, offset, [chunk.subarray(0, 2), chunk.subarray(2)]);
    expect(frame.length).toBe(10 + chunk.length);
    expect(frame[0]).toBe(DATA_FRAME_VERSION);
    const decoded = decodeFrame(frame);
    expect(decoded).toMatchObject({ type: 'data', channel: 2, offset });
    expect(decoded?.type === 'data' && decoded.bytes.equals(chunk)).toBe(true);
  });

  it('carries the other messages as JSON, validated', () => {
    const grant = encodeControlMessage({ v: 1, type: 'grant', upTo: 65_536 });
    expect(grant.toString('utf8')).toBe('{"v":1,"type":"grant","upTo":65536}');
    expect(decodeFrame(grant)).toEqual({ v: 1, type: 'grant', upTo: 65_536 });
    expect(decodeFrame(encodeControlMessage({ v: 1, type: 'exit', exitCode: null }))).toEqual({ v: 1, type: 'exit', exitCode: null });
  });

  it('refuses what does not follow the protocol', () => {
    const valid = encodeDataFrame(1, 0, [Buffer.from('ok')]);
    const withChannel = Buffer.from(valid);
    withChannel[1] = 3;
    const withVersion = Buffer.from(valid);
    withVersion[0] = 2;
    const unsafeOffset = Buffer.from(valid);
    unsafeOffset.writeUInt32BE(2 ** 21, 2);
    const refused = {
      'an empty payload': Buffer.alloc(0),
      'a header cut short': valid.subarray(0, 9),
      'an unknown channel': withChannel,
      'an unknown first byte': withVersion,
      'an offset beyond 2^53': unsafeOffset,
      'a chunk larger than the largest': encodeDataFrame(1, 0, [Buffer.alloc(MAX_SESSION_CHUNK_BYTES + 1)]),
      'JSON that is no message': Buffer.from('{"v":1,"type":"data","channel":1,"offset":0,"data":"YWJj"}'),
      'a message of another version': Buffer.from('{"v":2,"type":"ping"}'),
      'text that is not JSON': Buffer.from('{"v":1,'),
    };
    for (const [what, payload] of Object.entries(refused)) expect(decodeFrame(payload), what).toBeNull();
    expect(decodeFrame(encodeDataFrame(1, 0, [Buffer.alloc(MAX_SESSION_CHUNK_BYTES)]))).not.toBeNull();
  });
});
