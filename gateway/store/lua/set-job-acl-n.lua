--[[
  Replace a stored job's ACL and move it between the zsets of the sources the
  ACL places it in (job-sources.ts), in one step; a job that is not stored
  stays unstored (a bare HSET would make a hash of the acl alone).
  Compare-and-set on the ACL the caller read, which the keys follow.

  Input:
    KEYS[1]       job hash     <p>:job:<id>
    KEYS[2…]      the zsets to leave (ARGV[4] of them), then those to join
    ARGV[1]       the new ACL (JSON)
    ARGV[2]       the acl field as the caller read it ('' for none)
    ARGV[3]       job id
    ARGV[4]       how many of KEYS[2…] to leave

  Output:
    {'missing'}        the job is not stored
    {'changed'}        its ACL is no longer ARGV[2]: read it again
    {'set', hash}      done; the job's hash (HGETALL) after the change
]]
if redis.call('HEXISTS', KEYS[1], 'doc') == 0 then
  return {'missing'}
end
if (redis.call('HGET', KEYS[1], 'acl') or '') ~= ARGV[2] then
  return {'changed'}
end
local leaving = tonumber(ARGV[4])
for i = 2, #KEYS do
  if i <= 1 + leaving then
    redis.call('ZREM', KEYS[i], ARGV[3])
  else
    redis.call('ZADD', KEYS[i], 0, ARGV[3])
  end
end
redis.call('HSET', KEYS[1], 'acl', ARGV[1])
return {'set', redis.call('HGETALL', KEYS[1])}
