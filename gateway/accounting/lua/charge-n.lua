--[[
  Charges a batch of jobs their running totals: for each job, debits only the
  part of its total not yet accounted, from its wallet's allocations active
  now, soonest-expiring first, down to zero and never below. Checking and
  debiting in one script is what makes a total reported twice, by any number
  of gateways at once, charge once. A batch (not one call per job) because a
  charging round covers 100 000 jobs: each wallet is read and written once
  per batch, and the per-call cost of EVALSHA is paid once.

  Input (n KEYS: 1 + 3 × wallets + jobs):
    KEYS[1]                all transactions stream   <p>:transactions
    for wallet w = 1..W, at KEYS[3w - 1], KEYS[3w], KEYS[3w + 1]:
                           wallet hash               <p>:wallet:<owner>:<provider>:<category>
                           spending-order zset       <p>:wallet:<owner>:<provider>:<category>:order
                           owner's transactions      <p>:transactions:<owner>
    for job j = 1..J, at KEYS[1 + 3W + j]:
                           the job's charge hash     <p>:charge:<job id>

    ARGV[1]  now, epoch ms, 16 digits
    ARGV[2]  W, the number of wallets
    ARGV[3]  L, the length of '<p>:charge:' in the job keys: a job's key
             past it is its id, unless the job names an id string
    ARGV[4]  the jobs, in order, one '<total>,<w>,<d>,<b>,<i>;' each:
             running total (non-negative integer credits), wallet number w,
             and the numbers of strings (ARGV[4 + n]) for the description of
             the charge, who caused it (may be ''), and the job id (0: the
             id is the key's part past L, as for every id that URI-encoding
             leaves alone)
    ARGV[5..] the strings, each once however many jobs share it

  One string of numbers per batch and each description once, not five
  arguments per job: a round over 100 000 jobs sends less than half the
  bytes and a sixth of the arguments, and the gateway's CPU for it halves.

  Output:
    one string: for each job, in order and separated by ',',
    '<debited>,<shortfall 1/0>,<credits taken for the job in all>,<accounted total>'

  Charge hash fields: accounted = the highest total processed (moves to the
  reported total even when the wallet could not pay, so the same unpaid
  difference is not retried forever); charged = credits actually taken.
  Totals below `accounted` change nothing: a charge is never refunded.
  A job may appear twice in a batch: it is charged in order, as two calls.
]]
local now = ARGV[1]
local walletCount = tonumber(ARGV[2])
local wallets = {}

-- The wallet's allocations active now, in spending order, with balances.
-- Members are '<end>|<start>|<id>' (end '~' for never): everything after
-- '<now>|~' ends after now.
local function load(w)
  local wallet = wallets[w]
  if wallet then return wallet end
  wallet = {hash = KEYS[3 * w - 1], ownerStream = KEYS[3 * w + 1], ids = {}, fields = {}, balances = {}, taken = {}}
  local members = redis.call('ZRANGEBYLEX', KEYS[3 * w], '(' .. now .. '|~', '+')
  for _, member in ipairs(members) do
    local start, id = string.match(member, '^[^|]+|([^|]+)|(.+)$')
    if start <= now then
      wallet.ids[#wallet.ids + 1] = id
      wallet.fields[#wallet.fields + 1] = 'b:' .. id
    end
  end
  if #wallet.fields > 0 then
    -- The wallet's id too: a transaction needs it once anything is debited.
    local values = redis.call('HMGET', wallet.hash, 'id', unpack(wallet.fields))
    wallet.id = values[1]
    for i = 1, #wallet.fields do
      wallet.balances[i] = tonumber(values[i + 1] or '0')
      wallet.taken[i] = 0
    end
  end
  wallets[w] = wallet
  return wallet
end

local results = {}
local idFrom = tonumber(ARGV[3]) + 1
local firstJobKey = 1 + 3 * walletCount
-- Checked before anything is written: a job read against another's key would charge the wrong job.
local rest, records = string.gsub(ARGV[4], '%d+,%d+,%d+,%d+,%d+;', '')
if rest ~= '' or records ~= #KEYS - firstJobKey then
  return redis.error_reply('ERR charge-n.lua: ' .. records .. ' jobs for ' .. (#KEYS - firstJobKey) .. ' job keys')
end
local j = 0
for total, w, d, b, i in string.gmatch(ARGV[4], '(%d+),(%d+),(%d+),(%d+),(%d+);') do
  j = j + 1
  local chargeKey = KEYS[firstJobKey + j]
  local state = redis.call('HMGET', chargeKey, 'accounted', 'charged')
  local accounted = tonumber(state[1] or '0')
  local charged = tonumber(state[2] or '0')
  local delta = tonumber(total) - accounted
  if delta <= 0 then
    results[j] = string.format('0,0,%d,%d', charged, accounted)
  else
    local wallet = load(tonumber(w))
    local left = delta
    local paidBy = {}
    for a = 1, #wallet.ids do
      if left == 0 then break end
      local balance = wallet.balances[a]
      if balance > 0 then
        local take = math.min(balance, left)
        wallet.balances[a] = balance - take
        wallet.taken[a] = wallet.taken[a] + take
        paidBy[#paidBy + 1] = wallet.ids[a]
        left = left - take
      end
    end
    local debited = delta - left
    charged = charged + debited
    -- %d, not tostring: Lua would write large numbers as 1e+15.
    redis.call('HSET', chargeKey, 'accounted', total, 'charged', string.format('%d', charged))
    if debited > 0 then
      local jobId = i == '0' and string.sub(chargeKey, idFrom) or ARGV[4 + tonumber(i)]
      local txId = redis.call('XADD', KEYS[1], '*', 'kind', 'CHARGE', 'wallet', wallet.id,
        'amount', string.format('%d', debited), 'jobId', jobId, 'allocs', table.concat(paidBy, ','),
        'by', ARGV[4 + tonumber(b)], 'ts', now, 'desc', ARGV[4 + tonumber(d)])
      -- The owner's stream holds only the id: the record is read from the global one.
      redis.call('XADD', wallet.ownerStream, txId, 'k', 'C')
    end
    results[j] = string.format('%d,%d,%d,%s', debited, left > 0 and 1 or 0, charged, total)
  end
end
-- Balances change only here, once per allocation per batch.
for _, wallet in pairs(wallets) do
  for i = 1, #wallet.fields do
    if wallet.taken[i] > 0 then
      redis.call('HINCRBY', wallet.hash, wallet.fields[i], string.format('%d', -wallet.taken[i]))
    end
  end
end

return table.concat(results, ',')
