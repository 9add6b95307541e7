--[[
  Failover: moves a job no provider has accepted yet to another provider and
  product, keeping every provider-keyed index and count in step. Compare-and-set
  on both its state and its provider, so of two concurrent moves away from the
  same provider only the first applies.

  Input:
    KEYS[1]  job hash                  <p>:job:<id>
    KEYS[2]  old provider zset         <p>:jobs:provider:<from>
    KEYS[3]  old provider+state zset   <p>:jobs:provider:<from>:state:<ARGV[3]>
    KEYS[4]  old provider active zset  <p>:jobs:provider:<from>:active
    KEYS[5]  new provider zset         <p>:jobs:provider:<to>
    KEYS[6]  new provider+state zset   <p>:jobs:provider:<to>:state:<ARGV[3]>
    KEYS[7]  new provider active zset  <p>:jobs:provider:<to>:active
    KEYS[8]  counts hash               <p>:jobs:counts

    ARGV[1]  job id
    ARGV[2]  the provider the job must be at (<from>)
    ARGV[3]  the state the job must be in (IN_QUEUE)
    ARGV[4]  the new provider id (<to>)
    ARGV[5]  the new product reference (JSON), stored as is
    ARGV[6]  the update (JSON) to record
    ARGV[7]  counts hash field of the old provider and ARGV[3]
    ARGV[8]  counts hash field of the new provider and ARGV[3]

  Output: {kind, detail, job hash as field, value, …}
    {'missing'}
    {'refused', 'state', hash}     the job is not in ARGV[3]
    {'refused', 'provider', hash}  the job is not at ARGV[2]
    {'applied', '0', hash}         moved; '0': the state did not move

  providerId and the product reference are hash fields of their own so this
  script never rewrites the `doc` JSON (cjson would turn [] into {} and round
  large numbers).
]]
local job = KEYS[1]
local id = ARGV[1]

local current = redis.call('HGET', job, 'state')
if not current then
  return {'missing'}
end

if current ~= ARGV[3] then
  return {'refused', 'state', redis.call('HGETALL', job)}
end

local provider = redis.call('HGET', job, 'providerId')
if not provider then
  -- Stored before providerId had a field of its own: only read from the doc, never written back.
  provider = cjson.decode(redis.call('HGET', job, 'doc')).providerId
end
if provider ~= ARGV[2] then
  return {'refused', 'provider', redis.call('HGETALL', job)}
end

local updates = redis.call('HGET', job, 'updates')
if updates == '[]' then
  updates = '[' .. ARGV[6] .. ']'
else
  updates = string.sub(updates, 1, -2) .. ',' .. ARGV[6] .. ']'
end
redis.call('HSET', job, 'providerId', ARGV[4], 'product', ARGV[5], 'updates', updates)

-- Remove before adding: a move to another product of the same provider keeps its entries.
for i = 2, 4 do
  redis.call('ZREM', KEYS[i], id)
end
for i = 5, 7 do
  redis.call('ZADD', KEYS[i], 0, id)
end
redis.call('HINCRBY', KEYS[8], ARGV[7], -1)
redis.call('HINCRBY', KEYS[8], ARGV[8], 1)

return {'applied', '0', redis.call('HGETALL', job)}
