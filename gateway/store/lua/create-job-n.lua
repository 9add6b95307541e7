--[[
  Stores a new job and adds it to every index, in one step.

  Input:
    KEYS[1]  job hash                  <p>:job:<id>
    KEYS[2]  active duplicates zset    <p>:jobs:dedupe:<createdBy>:<specHash>
    KEYS[3]  all jobs zset             <p>:jobs
    KEYS[4]  creator zset              <p>:jobs:creator:<createdBy>
    KEYS[5]  creator+state zset        <p>:jobs:creator:<createdBy>:state:<state>
    KEYS[6]  state zset                <p>:jobs:state:<state>
    KEYS[7]  provider zset             <p>:jobs:provider:<providerId>
    KEYS[8]  provider+state zset       <p>:jobs:provider:<providerId>:state:<state>
    KEYS[9]  provider active zset      <p>:jobs:provider:<providerId>:active
    KEYS[10] counts hash               <p>:jobs:counts
    KEYS[11…] the zsets of the job's sources (job-sources.ts), e.g. <p>:jobs:project:<project>

    ARGV[1]  job id
    ARGV[2]  '1': refuse while the creator has an active job with the same specHash
    ARGV[3]  '1': the job's state is final (it is then neither active nor a duplicate)
    ARGV[4]  field of the counts hash for the job's provider and state
    ARGV[5…] field, value, … of the job hash

  Output:
    {1}      stored (now, or before by the same call repeated: same id and doc)
    {0, id}  refused: id is the job already stored under this id, or the
             newest active job of the same creator and specHash

  Every zset here has score 0 and is read by lex: job ids are uuid v7, so lex
  order is creation order.
]]
local id = ARGV[1]

if redis.call('EXISTS', KEYS[1]) == 1 then
  -- This very job, sent again after a reconnect lost the reply: it is stored.
  if ARGV[5] == 'doc' and redis.call('HGET', KEYS[1], 'doc') == ARGV[6] then
    return {1}
  end
  return {0, id}
end

if ARGV[2] == '1' then
  -- Members leave this set when their job reaches a final state (change-job),
  -- so any member is a job still running or waiting.
  local active = redis.call('ZREVRANGEBYLEX', KEYS[2], '+', '-', 'LIMIT', 0, 1)
  if active[1] then
    return {0, active[1]}
  end
end

redis.call('HSET', KEYS[1], unpack(ARGV, 5))
for i = 3, 8 do
  redis.call('ZADD', KEYS[i], 0, id)
end
for i = 11, #KEYS do
  redis.call('ZADD', KEYS[i], 0, id)
end
if ARGV[3] ~= '1' then
  redis.call('ZADD', KEYS[2], 0, id)
  redis.call('ZADD', KEYS[9], 0, id)
end
redis.call('HINCRBY', KEYS[10], ARGV[4], 1)

return {1}
