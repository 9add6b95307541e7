--[[
  Reads the newest log lines stamped after a time, without sending the whole
  log to the caller.

  Input:
    KEYS[1]  log list                  <p>:job:<id>:logs
    ARGV[1]  only lines with a timestamp greater than this; '' for all
    ARGV[2]  at most this many, the newest; '' for no limit

  Output: the matching lines ('<timestamp> <JobLog JSON>'), oldest first
]]
local key = KEYS[1]
local since = tonumber(ARGV[1])
local limit = tonumber(ARGV[2]) or math.huge
local picked = {}
local stop = redis.call('LLEN', key) - 1

-- Walk from the newest line back, so a small limit reads a small slice.
while stop >= 0 and #picked < limit do
  local start = math.max(0, stop - 255)
  local chunk = redis.call('LRANGE', key, start, stop)
  for i = #chunk, 1, -1 do
    local line = chunk[i]
    local stamp = tonumber(string.sub(line, 1, string.find(line, ' ', 1, true) - 1))
    if since == nil or stamp > since then
      picked[#picked + 1] = line
      if #picked >= limit then
        break
      end
    end
  end
  stop = start - 1
end

local lines = {}
for i = #picked, 1, -1 do
  lines[#lines + 1] = picked[i]
end
return lines
