--[[
  Appends log lines to a job's log and drops the oldest past the bound.

  Input:
    KEYS[1]  log list                  <p>:job:<id>:logs
    ARGV[1]  how many lines to keep (at least 1)
    ARGV[2…] lines, each '<timestamp> <JobLog JSON>'

  Output: the number of lines kept
]]
local key = KEYS[1]
-- unpack() is limited by Lua's C stack, so push in slices.
for i = 2, #ARGV, 1000 do
  redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('LTRIM', key, -tonumber(ARGV[1]), -1)
return redis.call('LLEN', key)
