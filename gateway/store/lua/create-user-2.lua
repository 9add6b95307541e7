--[[
  Store a new user under a free name and list it, in one step.

  Input:
    KEYS[1]  the user               <p>:user:<username>
    KEYS[2]  every user name        <p>:users
    ARGV[1]  user name
    ARGV[2]  UserRecord JSON

  Output: 1 when stored, 0 when the name is taken
]]
if redis.call('SET', KEYS[1], ARGV[2], 'NX') == false then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
