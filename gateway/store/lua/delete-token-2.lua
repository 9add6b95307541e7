--[[
  Forget a token at once, and its entry under its user.

  Input:
    KEYS[1]  the token              <p>:token:<tokenHash>
    KEYS[2]  the user's tokens      <p>:user:<username>:tokens
    ARGV[1]  token hash

  Output: 1 when the token was there, 0 otherwise
]]
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
