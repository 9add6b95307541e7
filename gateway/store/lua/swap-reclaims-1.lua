--[[
  Compare-and-set on the reclaims under way on one provider
  (gateway/jobs/reclaim.ts): replaced only while the ledger still has the
  version its caller read, so of several replicas claiming borrowed jobs from
  the same view exactly one succeeds, and the others read again.

  Input:
    KEYS[1]  reclaims hash             <p>:reclaims
    ARGV[1]  provider id (the field)
    ARGV[2]  the version the ledger must have now ('' for none)
    ARGV[3]  the new ledger (JSON, carrying its new version); '' removes it
    ARGV[4]  the new ledger's version; '' when removing

  Output: 1 when replaced, or when the ledger already has the new version (the
  same call repeated after a lost reply); 0 otherwise
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
local version = ''
if current then
  version = cjson.decode(current).version or ''
end
if version == ARGV[2] then
  if ARGV[3] == '' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  end
  return 1
end
if ARGV[4] ~= '' and version == ARGV[4] then
  return 1
end
return 0
