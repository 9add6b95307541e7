--[[
  Compare-and-set on one recurring record (a schedule or a service): stored
  only while it is at the version the caller read (or absent, for a new one),
  with its workspace and due indexes in the same step. Of replicas changing the
  same version, exactly one succeeds: that is what claims a schedule's firing.

  Input:
    KEYS[1]  the record                 <p>:<kind>:<id>            hash: doc, version
    KEYS[2]  its workspace's records    <p>:<kind>s:workspace:<w>  zset, score 0
    KEYS[3]  records by due time        <p>:<kind>s:due            zset, score dueAt
    ARGV[1]  id
    ARGV[2]  the version it must be at; '' when it must not exist
    ARGV[3]  the new version
    ARGV[4]  the new doc (JSON)
    ARGV[5]  the new due time (epoch ms); '' for none

  Output: 1 when stored, 0 when another change came first
]]
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] == '' then
  if current then
    return 0
  end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'doc', ARGV[4], 'version', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
return 1
