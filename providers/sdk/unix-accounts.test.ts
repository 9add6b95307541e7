import { describe, expect, it } from 'vitest';

import { createAccountMap, resolveUnixAccount, userMapSetting } from './unix-accounts.js';

describe('Unix accounts for jobs', () => {
  it('resolves names and uids through the host’s passwd database; a uid need not have an entry', async () => {
    expect(await resolveUnixAccount('nobody')).toEqual({ uid: 65534, gid: 65534, name: 'nobody' });
    expect(await resolveUnixAccount('65534')).toEqual({ uid: 65534, gid: 65534, name: 'nobody' });
    expect(await resolveUnixAccount('4242')).toEqual({ uid: 4242, gid: 4242, name: null });
    expect(await resolveUnixAccount('4242:100')).toEqual({ uid: 4242, gid: 100, name: null });
    await expect(resolveUnixAccount('no-such-user-here')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('no Unix account'),
    });
    await expect(resolveUnixAccount('bad name')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('never resolves root, by name, by uid or by group', async () => {
    for (const spec of ['root', '0', '0:100', '1000:0']) {
      await expect(resolveUnixAccount(spec)).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringContaining('jobs never run as root'),
      });
    }
  });

  it('maps Switchyard users to accounts, the others to the default, and lists each account once', async () => {
    const map = await createAccountMap({ users: { bob: 'daemon', carol: 'nobody' } });
    expect(map.defaultAccount.uid).toBe(65534);
    expect(map.accountFor('alice')).toBe(map.defaultAccount);
    expect(map.accountFor('bob')).toMatchObject({ name: 'daemon' });
    expect(map.accounts().map((a) => a.name)).toEqual(['nobody', 'daemon']);
    await expect(createAccountMap({ users: { mallory: 'root' } })).rejects.toThrow(/Switchyard user mallory.*root/);
  });

  it('reads a map from one setting, as user=account pairs or a JSON object', () => {
    expect(userMapSetting.parse(' alice=alice , bob=1001 ')).toEqual({ alice: 'alice', bob: '1001' });
    expect(userMapSetting.parse('{"alice":"1001:1001"}')).toEqual({ alice: '1001:1001' });
    expect(userMapSetting.parse('')).toEqual({});
    expect(userMapSetting.safeParse('alice').success).toBe(false);
    expect(userMapSetting.safeParse('alice=not a name').success).toBe(false);
    expect(userMapSetting.safeParse('[1,2]').success).toBe(false);
  });
});
