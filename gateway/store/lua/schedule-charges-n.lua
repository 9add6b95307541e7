--[[
  Sets when each job next owes a charge, each only while the job is as the
  round read it: with the version read (see charge-records-n.lua). A job that
  changed meanwhile keeps the time its change gave it, or stays out of the
  zset if it left the charged states.

  Input:
    KEYS[1]    charges due zset  <p>:jobs:charging:due
    KEYS[2..]  job hashes        <p>:job:<id>
    ARGV[1]    the charged states, as ',A,B,'
    ARGV[2..]  per job of KEYS[2..], in order: id, version, score (epoch ms,
               or '+inf' for not while it stays as it is)

  Output: the number of jobs scheduled.
]]
local scheduled = 0
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 3
  local job = KEYS[i]
  local version = ARGV[a + 1]
  local same
  if string.byte(version, 1) == 117 then -- 'u': stored before `usage`, compared on state and `updates`
    local state = redis.call('HGET', job, 'state')
    same = state and string.find(ARGV[1], ',' .. state .. ',', 1, true)
      and 'u' .. redis.call('HSTRLEN', job, 'updates') == version
  else
    -- `usage` grows with every move, so an unchanged length is an unchanged state.
    same = tostring(redis.call('HSTRLEN', job, 'usage')) == version
  end
  if same then
    redis.call('ZADD', KEYS[1], ARGV[a + 2], ARGV[a])
    scheduled = scheduled + 1
  end
end
return scheduled
