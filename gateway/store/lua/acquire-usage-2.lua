--[[
  Takes a job's hold on its workspace's usage if every limit allows it, in one
  step, so that parallel submissions on any number of gateway replicas never
  pass a quota. Taken again for a job that holds one (it failed over to
  another provider), the old hold is given back first; the same hold again is
  a repeat and changes nothing.

  Input:
    KEYS[1]  usage hash      <p>:usage:<workspace>    counter field → amount; '~fs', '~fsAt'
    KEYS[2]  leases hash     <p>:usage:<workspace>:leases   job id → lease JSON

    ARGV[1]  job id
    ARGV[2]  the lease (JSON: cells, amounts, at, weight, cost)
    ARGV[3]  now (epoch ms)
    ARGV[4]  fair-share half-life (ms)
    ARGV[5]  n, the number of cells
    ARGV[6 .. 5+n]        the cells the job adds to
    ARGV[6+n .. 9+n]      its amounts: jobs, cpu, memoryInGigs, gpu
    ARGV[10+n ..]         checks: field, delta, limit, field, delta, limit, …

  Output:
    {1}               held (now, or already by the same lease)
    {0, i, inUse}     refused: check i (from 1) would pass its limit; inUse is its counter now
]]
local RESOURCES = {'jobs', 'cpu', 'memoryInGigs', 'gpu'}
local id = ARGV[1]
local n = tonumber(ARGV[5])

local previous = redis.call('HGET', KEYS[2], id)
if previous == ARGV[2] then
  return {1}
end

local function add(cells, amounts, sign)
  for _, cell in ipairs(cells) do
    for r, resource in ipairs(RESOURCES) do
      local amount = amounts[r]
      if amount ~= 0 then
        redis.call('HINCRBYFLOAT', KEYS[1], cell .. '\t' .. resource, sign * amount)
      end
    end
  end
end

local old = nil
if previous then
  old = cjson.decode(previous)
  add(old.cells, {old.amounts.jobs, old.amounts.cpu, old.amounts.memoryInGigs, old.amounts.gpu}, -1)
end

local first = 10 + n
local i = 0
for k = first, #ARGV, 3 do
  i = i + 1
  local inUse = tonumber(redis.call('HGET', KEYS[1], ARGV[k]) or '0')
  if inUse + tonumber(ARGV[k + 1]) > tonumber(ARGV[k + 2]) + 1e-9 then
    if old then
      add(old.cells, {old.amounts.jobs, old.amounts.cpu, old.amounts.memoryInGigs, old.amounts.gpu}, 1)
    end
    return {0, i, tostring(inUse)}
  end
end

local cells = {}
for k = 6, 5 + n do
  cells[#cells + 1] = ARGV[k]
end
local amounts = {}
for r = 1, 4 do
  amounts[r] = tonumber(ARGV[5 + n + r])
end
add(cells, amounts, 1)
redis.call('HSET', KEYS[2], id, ARGV[2])

-- Fair share: a new hold charges its expected usage at once (decayed to now); a moved one was charged.
if not old then
  local now, halfLife = tonumber(ARGV[3]), tonumber(ARGV[4])
  local value = tonumber(redis.call('HGET', KEYS[1], '~fs') or '0')
  local at = tonumber(redis.call('HGET', KEYS[1], '~fsAt') or ARGV[3])
  local lease = cjson.decode(ARGV[2])
  value = value * math.pow(2, -math.max(0, now - at) / halfLife) + lease.cost
  redis.call('HSET', KEYS[1], '~fs', tostring(value), '~fsAt', tostring(math.max(now, at)))
end
return {1}
