--[[
  Appends the log lines of one provider log event to a job's log, once, and
  drops the oldest past the bound.

  Input:
    KEYS[1]  log list                  <p>:job:<id>:logs
    KEYS[2]  applied event ids set     <p>:job:<id>:events
    ARGV[1]  how many lines to keep (at least 1)
    ARGV[2]  the log event's id; '' appends without checking
    ARGV[3…] lines, each '<timestamp> <JobLog JSON>'

  Output: the number of lines kept, or -1 when the event was appended before
  (a redelivery: nothing changes)
]]
local key = KEYS[1]
if ARGV[2] ~= '' and redis.call('SADD', KEYS[2], ARGV[2]) == 0 then
  return -1
end
-- unpack() is limited by Lua's C stack, so push in slices.
for i = 3, #ARGV, 1000 do
  redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('LTRIM', key, -tonumber(ARGV[1]), -1)
return redis.call('LLEN', key)
