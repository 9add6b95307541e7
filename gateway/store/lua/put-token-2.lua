--[[
  Keep a token for its remaining life and list it under its user, in one step.

  Input:
    KEYS[1]  the token              <p>:token:<tokenHash>
    KEYS[2]  the user's tokens      <p>:user:<username>:tokens   (zset: hash by expiry)
    ARGV[1]  token hash
    ARGV[2]  TokenRecord JSON
    ARGV[3]  milliseconds it lives (PX)
    ARGV[4]  its expiry on the caller's clock (the score)

  Output: 1
]]
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
