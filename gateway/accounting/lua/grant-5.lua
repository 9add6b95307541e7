--[[
  Adds an allocation to a wallet (creating the wallet) and records the GRANT,
  in one step.

  Input:
    KEYS[1]  wallet hash               <p>:wallet:<owner>:<provider>:<category>
    KEYS[2]  spending-order zset       <p>:wallet:<owner>:<provider>:<category>:order
    KEYS[3]  owner's wallets set       <p>:wallets:<owner>
    KEYS[4]  all transactions stream   <p>:transactions
    KEYS[5]  owner's transactions      <p>:transactions:<owner>, ids only
             (<owner> is u:<user> or p:<project>; names are URI-encoded)

    ARGV[1]  allocation id
    ARGV[2]  spending-order member     <end, 16 digits, or ~>|<start, 16 digits>|<id>
    ARGV[3]  start date, epoch ms
    ARGV[4]  end date, epoch ms, or '' for never
    ARGV[5]  amount, positive integer credits
    ARGV[6]  owner (user name or project id)
    ARGV[7]  '1' when the owner is a project, else '0'
    ARGV[8]  provider id
    ARGV[9]  product category
    ARGV[10] granted by (user name)
    ARGV[11] now, epoch ms, 16 digits
    ARGV[12] description
    ARGV[13] member of the owner's wallets set: <provider>:<category>
    ARGV[14] the wallet's id: <owner>:<provider>:<category> as in the keys

  Output:
    {transaction id, {field, value, …} of the wallet hash afterwards}

  Wallet hash fields: owner, isProject, provider, category, id, createdBy;
  m:<allocation id> = '<start>|<end or empty>|<initial balance>' (never
  changes); b:<allocation id> = balance, changed only by HINCRBY.
]]
local id = ARGV[1]
redis.call('HSET', KEYS[1], 'owner', ARGV[6], 'isProject', ARGV[7], 'provider', ARGV[8], 'category', ARGV[9], 'id', ARGV[14])
redis.call('HSETNX', KEYS[1], 'createdBy', ARGV[10])
redis.call('HSET', KEYS[1], 'm:' .. id, ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5], 'b:' .. id, ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('SADD', KEYS[3], ARGV[13])

-- Transaction fields: kind, wallet (its id), amount, jobId, allocs (allocation
-- ids, comma-separated), by, ts (epoch ms, 16 digits), desc. charge-n.lua writes the same.
local txId = redis.call('XADD', KEYS[4], '*', 'kind', 'GRANT', 'wallet', ARGV[14], 'amount', ARGV[5], 'jobId', '',
  'allocs', id, 'by', ARGV[10], 'ts', ARGV[11], 'desc', ARGV[12])
-- The owner's stream holds only the same id (the record is read from the
-- global one). Its ids all come from the global stream, whose ids only grow,
-- so the explicit id is always its newest.
redis.call('XADD', KEYS[5], txId, 'k', 'G')

return {txId, redis.call('HGETALL', KEYS[1])}
