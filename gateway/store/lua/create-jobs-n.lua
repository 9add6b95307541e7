--[[
  Stores new jobs, each with its waiting record, and adds them to every index,
  in one step for the whole batch. The jobs are taken in order, each as if
  alone: a later one sees the earlier ones (a duplicate of a job earlier in the
  batch is refused). The keys are given once each and named by position, since
  the jobs of one call share most of their indexes.

  Input:
    KEYS[1]  counts hash               <p>:jobs:counts
    KEYS[2]  waiting hash              <p>:jobs:waiting
    KEYS[3]  all jobs zset             <p>:jobs
    KEYS[4]  charges due zset          <p>:jobs:charging:due
    KEYS[5…] every other key of the jobs below, once each

    ARGV[1]  n, the number of jobs; then per job, in this order:
      id
      '1': refuse while the creator has an active job with the same specHash
      '1': the job's state is final (it is then neither active nor a duplicate)
      field of the counts hash for the job's provider and state
      its waiting record (JSON) to write with it; '' for none
      when it owes its first charge, for a job stored in a charged state; '' for none
      positions in KEYS of: job hash <p>:job:<id>, active duplicates zset
        <p>:jobs:dedupe:<createdBy>:<specHash>, creator zset, creator+state zset,
        state zset, provider zset, provider+state zset, provider active zset
      s, the number of its source zsets (job-sources.ts); then their s positions
      f, the number of values of the job hash; then field, value, … (f of them)

  Output: one entry per job, in order:
    ''   stored (now, or before by the same call repeated: same id and doc)
    id   refused: the job already stored under this id, or the newest active
         job of the same creator and specHash; nothing of it is written

  Every zset here has score 0 and is read by lex: job ids are uuid v7, so lex
  order is creation order.
]]
local results = {}
local at = 2

local function take()
  local value = ARGV[at]
  at = at + 1
  return value
end

local function key()
  return KEYS[tonumber(take())]
end

for _ = 1, tonumber(ARGV[1]) do
  local id, exclusive, final, countsField, waiting, chargeDue = take(), take(), take(), take(), take(), take()
  local job, duplicates = key(), key()
  local indexes = {key(), key(), key(), key(), key()}
  local active = key()
  local sources = {}
  for _ = 1, tonumber(take()) do
    sources[#sources + 1] = key()
  end
  local f = tonumber(take())
  local first = at
  at = at + f

  local refusedBy = nil
  if redis.call('EXISTS', job) == 1 then
    -- This very job, sent again after a reconnect lost the reply: it is stored.
    if not (ARGV[first] == 'doc' and redis.call('HGET', job, 'doc') == ARGV[first + 1]) then
      refusedBy = id
    end
  else
    if exclusive == '1' then
      -- Members leave this set when their job reaches a final state (change-job),
      -- so any member is a job still running or waiting.
      local newest = redis.call('ZREVRANGEBYLEX', duplicates, '+', '-', 'LIMIT', 0, 1)
      refusedBy = newest[1]
    end
    if not refusedBy then
      redis.call('HSET', job, unpack(ARGV, first, first + f - 1))
      redis.call('ZADD', KEYS[3], 0, id)
      for _, index in ipairs(indexes) do
        redis.call('ZADD', index, 0, id)
      end
      for _, source in ipairs(sources) do
        redis.call('ZADD', source, 0, id)
      end
      if final ~= '1' then
        redis.call('ZADD', duplicates, 0, id)
        redis.call('ZADD', active, 0, id)
      end
      redis.call('HINCRBY', KEYS[1], countsField, 1)
      if chargeDue ~= '' then
        redis.call('ZADD', KEYS[4], chargeDue, id)
      end
    end
  end

  if refusedBy then
    results[#results + 1] = refusedBy
  else
    if waiting ~= '' then
      redis.call('HSET', KEYS[2], id, waiting)
    end
    results[#results + 1] = ''
  end
end

return results
