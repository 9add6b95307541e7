--[[
  Store a new key pair and list it under its user, in one step; nothing when the access key is taken.

  Input:
    KEYS[1]  the key pair           <p>:keypair:<accessKey>
    KEYS[2]  the user's key pairs   <p>:user:<username>:keypairs   (zset: access key by creation)
    ARGV[1]  access key
    ARGV[2]  KeypairRecord JSON
    ARGV[3]  its creation time (the score)

  Output: 1 when stored, 0 when the access key was taken
]]
if not redis.call('SET', KEYS[1], ARGV[2], 'NX') then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
