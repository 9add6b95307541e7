--[[
  Reads what a charging round needs of each job, and takes out of the due zset
  a job no longer stored or no longer in a charged state.

  Input:
    KEYS[1]    charges due zset  <p>:jobs:charging:due
    KEYS[2..]  job hashes        <p>:job:<id>, one per id in ARGV[2..]
    ARGV[1]    the charged states, as ',A,B,'
    ARGV[2..]  the job ids, in the order of KEYS[2..]

  Output: { page, then updates and doc of each legacy job, in page order }.
    page: one record per job, in order, joined by "\30"; a record is
    state, providerId, product, startedAt, charging and usage joined by "\31"
    ('' for a field the job lacks), or '' for a job not stored or not in a
    charged state. No field holds either separator: states, provider ids and
    usage are plain tokens, product and charging JSON, which escapes them.
    One string is read much faster than six values per job.
    A legacy job, stored before `charging` and `usage` existed, has neither;
    it is read whole.
  A job's version is the length of its `usage` (every move of state grows it)
  or, for a legacy job, 'u' and the length of `updates`: the gateway works it
  out, and schedule-charges-n.lua compares it.
]]
local charged = ARGV[1]
local page = {}
local out = { false }
for i = 2, #KEYS do
  local job = KEYS[i]
  local r = redis.call('HMGET', job, 'state', 'providerId', 'product', 'startedAt', 'charging', 'usage')
  local state = r[1]
  if state and string.find(charged, ',' .. state .. ',', 1, true) then
    if not (r[5] and r[6]) then
      local whole = redis.call('HMGET', job, 'updates', 'doc')
      out[#out + 1] = whole[1] or ''
      out[#out + 1] = whole[2] or ''
    end
    for j = 2, 6 do
      if not r[j] then r[j] = '' end
    end
    page[i - 1] = table.concat(r, '\31')
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
    page[i - 1] = ''
  end
end
out[1] = table.concat(page, '\30')
return out
