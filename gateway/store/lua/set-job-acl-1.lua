--[[
  Replace a stored job's ACL; a job that is not stored stays unstored (a bare
  HSET would make a hash of the acl alone).

  Input:
    KEYS[1]  job hash     <p>:job:<id>
    ARGV[1]  the ACL (JSON)

  Output: the job's hash (HGETALL) after the change; empty when it is not stored
]]
if redis.call('HEXISTS', KEYS[1], 'doc') == 0 then
  return {}
end
redis.call('HSET', KEYS[1], 'acl', ARGV[1])
return redis.call('HGETALL', KEYS[1])
