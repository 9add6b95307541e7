import { describe, expect, it } from 'vitest';

import { ConfigError } from '../shared/config.js';
import { readGatewaySettings, redisTargetOf } from './config.js';

const base = { NATS_URL: 'nats://127.0.0.1:4222', SWITCHYARD_ADMIN_TOKEN: 'a-token-of-sixteen-chars' };

describe('where the gateway finds Redis', () => {
  it('is one server by REDIS_URL or a cluster by SWITCHYARD_REDIS_CLUSTER', () => {
    expect(redisTargetOf(readGatewaySettings({ ...base, REDIS_URL: 'redis://127.0.0.1:6379' }))).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(redisTargetOf(readGatewaySettings({ ...base, SWITCHYARD_REDIS_CLUSTER: 'a:7000,b:7001' }))).toEqual({
      clusterNodes: ['a:7000', 'b:7001'],
    });
  });

  it('refuses both and neither, naming the two variables', () => {
    for (const env of [{ ...base }, { ...base, REDIS_URL: 'redis://127.0.0.1:6379', SWITCHYARD_REDIS_CLUSTER: 'a:7000' }]) {
      expect(() => readGatewaySettings(env)).toThrow(ConfigError);
      expect(() => readGatewaySettings(env)).toThrow(/REDIS_URL, SWITCHYARD_REDIS_CLUSTER/);
    }
  });
});
