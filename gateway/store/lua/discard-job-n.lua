--[[
  Forgets a job that no provider took: one still IN_QUEUE on the provider that
  refused it, removed from every index create-job put it in, in one step.
  Compare-and-set on its state and provider, so a job a provider's event moved
  on, or another replica moved elsewhere, is kept.

  Input:
    KEYS[1]  job hash                  <p>:job:<id>
    KEYS[2]  active duplicates zset    <p>:jobs:dedupe:<createdBy>:<specHash>
    KEYS[3]  all jobs zset             <p>:jobs
    KEYS[4]  creator zset              <p>:jobs:creator:<createdBy>
    KEYS[5]  creator+state zset        <p>:jobs:creator:<createdBy>:state:IN_QUEUE
    KEYS[6]  state zset                <p>:jobs:state:IN_QUEUE
    KEYS[7]  provider zset             <p>:jobs:provider:<providerId>
    KEYS[8]  provider+state zset       <p>:jobs:provider:<providerId>:state:IN_QUEUE
    KEYS[9]  provider active zset      <p>:jobs:provider:<providerId>:active
    KEYS[10] counts hash               <p>:jobs:counts
    KEYS[11…] the zsets of the job's sources, for the ACL in ARGV[4]

    ARGV[1]  job id
    ARGV[2]  the provider it must be on
    ARGV[3]  field of the counts hash for that provider and IN_QUEUE
    ARGV[4]  the job's acl field as the caller read it ('' for none), which KEYS[11…] follow

  Output:
    1  forgotten
    0  kept: missing, no longer IN_QUEUE, or on another provider
    2  kept: its ACL changed since the caller read it; read it again
]]
local id = ARGV[1]
local state, providerId = unpack(redis.call('HMGET', KEYS[1], 'state', 'providerId'))
if state ~= 'IN_QUEUE' or providerId ~= ARGV[2] then
  return 0
end
if (redis.call('HGET', KEYS[1], 'acl') or '') ~= ARGV[4] then
  return 2
end
redis.call('DEL', KEYS[1])
for i = 11, #KEYS do
  redis.call('ZREM', KEYS[i], id)
end
for i = 2, 9 do
  redis.call('ZREM', KEYS[i], id)
end
redis.call('HINCRBY', KEYS[10], ARGV[3], -1)
return 1
