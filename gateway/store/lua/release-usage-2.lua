--[[
  Gives back a job's hold on its workspace's usage (it ended, or waits at the
  gateway again), at most once, and corrects its fair-share usage from what it
  was charged when sent (weight × its time allocation) to what it held
  (weight × the time since then); the charge has decayed since, as the
  rest of the workspace's usage has.

  Input:
    KEYS[1]  usage hash      <p>:usage:<workspace>
    KEYS[2]  leases hash     <p>:usage:<workspace>:leases
    ARGV[1]  job id
    ARGV[2]  now (epoch ms)
    ARGV[3]  fair-share half-life (ms)

  Output: 1 when a hold was given back, 0 when the job held none.
]]
local RESOURCES = {'jobs', 'cpu', 'memoryInGigs', 'gpu'}
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if not previous then
  return 0
end
local lease = cjson.decode(previous)
for _, cell in ipairs(lease.cells) do
  for _, resource in ipairs(RESOURCES) do
    local amount = lease.amounts[resource]
    if amount ~= 0 then
      redis.call('HINCRBYFLOAT', KEYS[1], cell .. '\t' .. resource, -amount)
    end
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])

local now, halfLife = tonumber(ARGV[2]), tonumber(ARGV[3])
local elapsed = math.max(0, now - lease.at)
local held = lease.weight * elapsed / 1000
-- What it was charged has decayed since, as the workspace's whole usage has.
local charged = lease.cost * math.pow(2, -elapsed / halfLife)
local value = tonumber(redis.call('HGET', KEYS[1], '~fs') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], '~fsAt') or ARGV[2])
value = math.max(0, value * math.pow(2, -math.max(0, now - at) / halfLife) + held - charged)
redis.call('HSET', KEYS[1], '~fs', tostring(value), '~fsAt', tostring(math.max(now, at)))
return 1
