--[[
  Forget a key pair at once, and its entry under its user.

  Input:
    KEYS[1]  the key pair           <p>:keypair:<accessKey>
    KEYS[2]  the user's key pairs   <p>:user:<username>:keypairs
    ARGV[1]  access key

  Output: 1 when the key pair was there, 0 otherwise
]]
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
