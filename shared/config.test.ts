import { describe, expect, it } from 'vitest';

import { ConfigError, natsReplicasSetting, natsUrlSetting, readConfig, redisClusterSetting } from './config.js';

const shape = { NATS_URL: natsUrlSetting, SWITCHYARD_NATS_REPLICAS: natsReplicasSetting };

describe('NATS settings', () => {
  it('take one URL, or a cluster’s seed URLs separated by commas', () => {
    expect(readConfig(shape, { NATS_URL: 'nats://127.0.0.1:4222' })).toEqual({ NATS_URL: 'nats://127.0.0.1:4222', SWITCHYARD_NATS_REPLICAS: 1 });
    const seeds = 'nats://n1:4222,nats://n2:4222,tls://n3:4222';
    expect(readConfig(shape, { NATS_URL: seeds, SWITCHYARD_NATS_REPLICAS: '3' })).toEqual({ NATS_URL: seeds, SWITCHYARD_NATS_REPLICAS: 3 });
  });

  it.each([['nats://a:1,'], ['nats://a:1,,nats://b:2'], ['nats://a:1, nats://b:2'], ['nats://a:1,redis://b:2']])(
    'refuse %j naming the variable',
    (url) => {
      expect(() => readConfig(shape, { NATS_URL: url })).toThrow(ConfigError);
      expect(() => readConfig(shape, { NATS_URL: url })).toThrow(/NATS_URL/);
    },
  );

  it.each([['0'], ['6'], ['2.5']])('refuse %j replicas', (replicas) => {
    expect(() => readConfig(shape, { NATS_URL: 'nats://a:1', SWITCHYARD_NATS_REPLICAS: replicas })).toThrow(/SWITCHYARD_NATS_REPLICAS/);
  });
});

describe('SWITCHYARD_REDIS_CLUSTER', () => {
  const cluster = { SWITCHYARD_REDIS_CLUSTER: redisClusterSetting };

  it('takes host:port seed nodes separated by commas', () => {
    expect(readConfig(cluster, { SWITCHYARD_REDIS_CLUSTER: '10.0.0.1:7000,redis-2:7001' })).toEqual({
      SWITCHYARD_REDIS_CLUSTER: ['10.0.0.1:7000', 'redis-2:7001'],
    });
  });

  it.each([['redis://a:7000'], ['a'], ['a:7000,'], ['a:7000, b:7001']])('refuses %j naming the variable', (nodes) => {
    expect(() => readConfig(cluster, { SWITCHYARD_REDIS_CLUSTER: nodes })).toThrow(/SWITCHYARD_REDIS_CLUSTER/);
  });
});
