--[[
  Store a project and keep its users' indexes in step, in one step: a new one
  only when its id is free, a change only while the project is at the version
  the caller read (compare-and-set), so two concurrent changes never lose one.

  Input:
    KEYS[1]     project hash            <p>:project:<id>   (doc, version)
    KEYS[2]     every project id        <p>:projects
    KEYS[3..]   user index hashes       <p>:user:<u>:projects | <p>:user:<u>:invites
    ARGV[1]     project id (the field in the user hashes)
    ARGV[2]     version it must be at now; '' for a new project (the id must be free)
    ARGV[3]     its new version
    ARGV[4]     its new document (JSON)
    ARGV[5..]   per user hash, in KEYS order: the entry's new value (JSON), '' to remove it

  Output: 1 when stored, 0 when the id is taken or the version moved on
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
redis.call('SADD', KEYS[2], ARGV[1])
for i = 3, #KEYS do
  local value = ARGV[i + 2]
  if value == '' then
    redis.call('HDEL', KEYS[i], ARGV[1])
  else
    redis.call('HSET', KEYS[i], ARGV[1], value)
  end
end
return 1
