--[[
  Compare-and-set on one record of the jobs waiting at the gateway (or being
  sent by a replica that holds them): replaced only while it still carries the
  claim its holder expects, so of several replicas taking the same record
  exactly one succeeds.

  Input:
    KEYS[1]  waiting hash              <p>:jobs:waiting
    ARGV[1]  job id (the field)
    ARGV[2]  the claim the record must carry now ('' for a record without one)
    ARGV[3]  the new record (JSON); '' removes it
    ARGV[4]  the new record's claim; '' when removing

  Output: 1 when replaced, or when the record already carries the new claim (the
  same call repeated after a lost reply); 0 otherwise
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then
  return 0
end
-- A record from before claims existed has none: '' names it.
local claim = cjson.decode(current).claim or ''
if claim == ARGV[2] then
  if ARGV[3] == '' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  end
  return 1
end
if ARGV[4] ~= '' and claim == ARGV[4] then
  return 1
end
return 0
