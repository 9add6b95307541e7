--[[
  Changes one job by compare-and-set on its state, keeping every index and
  count in step. The transition table is the caller's (ARGV[5], ARGV[6]), so
  it is defined once, in shared/job-state-machine.ts.

  Input:
    KEYS[1]      job hash                  <p>:job:<id>
    KEYS[2]      applied event ids set     <p>:job:<id>:events
    KEYS[3]      active duplicates zset    <p>:jobs:dedupe:<createdBy>:<specHash>
    KEYS[4]      provider active zset      <p>:jobs:provider:<providerId>:active
    KEYS[5]      counts hash               <p>:jobs:counts
    KEYS[6..12]  creator+state zsets, one per state in ARGV[7]'s order
    KEYS[13..19] state zsets, same order
    KEYS[20..26] provider+state zsets, same order
    KEYS[27]     charges due zset          <p>:jobs:charging:due

    ARGV[1]  job id
    ARGV[2]  event id, applied at most once; '' for none
    ARGV[3]  target state; '' for none
    ARGV[4]  states the job must be in, as ',A,B,'; '' for no condition
    ARGV[5]  states from which ARGV[3] may be reached, as ',A,B,'
    ARGV[6]  final states, as ',A,B,'
    ARGV[7]  every state, as ',A,B,', in the order of the per-state KEYS
    ARGV[8]  exitCode             '=' .. value, or '' to leave it
    ARGV[9]  startedAt            '=' .. value, or ''
    ARGV[10] expiresAt            '=' .. value, or ''
    ARGV[11] providerGeneratedId  '=' .. value, or ''
    ARGV[12] '1': record an update even if the state does not move
    ARGV[13] the update (JSON) to record when the state moves
    ARGV[14] the update (JSON) to record when it does not
    ARGV[15] counts hash field prefix of the job's provider ('<provider>:')
    ARGV[16] the provider the provider-keyed KEYS are for
    ARGV[17] the state's move as the job's `usage` field records it ('<state>@<timestamp>')
    ARGV[18] the charged states, as ',A,B,'
    ARGV[19] when a job moved into a charged state owes a charge (the move's timestamp)

  Output: {kind, detail, job hash as field, value, …}
    {'missing'}
    {'moved', provider}            the job is now at another provider (reassign-job): ask again with its keys
    {'duplicate', '', hash}        the event id was applied before
    {'refused', 'expect', hash}    the job is not in one of ARGV[4]
    {'refused', 'table', hash}     the table does not allow the move
    {'applied', '1' | '0', hash}   '1' when the state moved

  The job hash keeps `updates` as a JSON array string appended to here
  without decoding: cjson would turn [] into {} and round large numbers.
  `usage` holds its moves alone, for charging rounds; a job stored before it
  existed has none and is read whole instead, so none is begun here.
]]
local job = KEYS[1]
local id = ARGV[1]
local eventId, target = ARGV[2], ARGV[3]

local function has(list, state)
  return string.find(list, ',' .. state .. ',', 1, true) ~= nil
end

local current = redis.call('HGET', job, 'state')
if not current then
  return {'missing'}
end

-- Only reassign-job sets this field, so a job without it is still where the doc says.
local provider = redis.call('HGET', job, 'providerId')
if provider and provider ~= ARGV[16] then
  return {'moved', provider}
end

if eventId ~= '' and redis.call('SISMEMBER', KEYS[2], eventId) == 1 then
  return {'duplicate', '', redis.call('HGETALL', job)}
end

if ARGV[4] ~= '' and not has(ARGV[4], current) then
  return {'refused', 'expect', redis.call('HGETALL', job)}
end

local moved = target ~= '' and target ~= current
if moved and (has(ARGV[6], current) or not has(ARGV[5], current)) then
  return {'refused', 'table', redis.call('HGETALL', job)}
end

if eventId ~= '' then
  redis.call('SADD', KEYS[2], eventId)
end

local fields = {}
local function put(name, value)
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
local optional = {[8] = 'exitCode', [9] = 'startedAt', [10] = 'expiresAt', [11] = 'providerGeneratedId'}
for i = 8, 11 do
  if ARGV[i] ~= '' then
    put(optional[i], string.sub(ARGV[i], 2))
  end
end
if moved then
  put('state', target)
end
if moved or ARGV[12] == '1' then
  local entry = moved and ARGV[13] or ARGV[14]
  local updates = redis.call('HGET', job, 'updates')
  if updates == '[]' then
    updates = '[' .. entry .. ']'
  else
    updates = string.sub(updates, 1, -2) .. ',' .. entry .. ']'
  end
  put('updates', updates)
end
if moved then
  local usage = redis.call('HGET', job, 'usage')
  if usage then
    put('usage', usage == '' and ARGV[17] or usage .. ';' .. ARGV[17])
  end
end
if #fields > 0 then
  redis.call('HSET', job, unpack(fields))
end

if moved then
  local position, n = {}, 0
  for state in string.gmatch(ARGV[7], '[^,]+') do
    n = n + 1
    position[state] = n
  end
  local from, to = position[current], position[target]
  for _, base in ipairs({5, 12, 19}) do
    redis.call('ZREM', KEYS[base + from], id)
    redis.call('ZADD', KEYS[base + to], 0, id)
  end
  redis.call('HINCRBY', KEYS[5], ARGV[15] .. current, -1)
  redis.call('HINCRBY', KEYS[5], ARGV[15] .. target, 1)
  if has(ARGV[6], target) then
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  end
  if has(ARGV[18], target) then
    redis.call('ZADD', KEYS[27], ARGV[19], id)
  else
    redis.call('ZREM', KEYS[27], id)
  end
end

return {'applied', moved and '1' or '0', redis.call('HGETALL', job)}
