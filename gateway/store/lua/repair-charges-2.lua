--[[
  Makes due (score 0) every job of one charged state's zset that the charges
  due zset does not hold: jobs stored before it existed, or changed by a
  gateway that does not keep it. Reads `count` ids at a time.

  Input:
    KEYS[1]  charges due zset  <p>:jobs:charging:due
    KEYS[2]  state zset        <p>:jobs:state:<state>
    ARGV[1]  lex bound to read from: '-' at first, then '(' .. the last id
    ARGV[2]  count

  Output: {ids added, the last id read, or '' when the zset is done}
]]
local count = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, count)
local added = 0
for _, id in ipairs(ids) do
  if not redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], 0, id)
    added = added + 1
  end
end
return {added, #ids == count and ids[#ids] or ''}
