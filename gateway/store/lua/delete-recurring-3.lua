--[[
  Remove one recurring record while it is at the version the caller read, and
  drop it from its indexes in the same step.

  Input:
    KEYS[1]  the record                 <p>:<kind>:<id>
    KEYS[2]  its workspace's records    <p>:<kind>s:workspace:<w>
    KEYS[3]  records by due time        <p>:<kind>s:due
    ARGV[1]  id
    ARGV[2]  the version it must be at

  Output: 1 when removed, 0 when it changed or is gone
]]
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
