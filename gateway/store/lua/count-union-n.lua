--[[
  Counts the ids in a lex range of the union of several zsets (sources that
  may share jobs), each id once, leaving nothing behind: the scratch key is
  written and deleted within this one atomic step.

  Input:
    KEYS[1]   scratch zset   <p>:jobs:scratch:union
    KEYS[2…]  the zsets, every one of score 0
    ARGV[1]   range min ('-', '[id' or '(id')
    ARGV[2]   range max ('+', '[id' or '(id')

  Output: the number of distinct ids in the range
]]
local sources = {}
for i = 2, #KEYS do
  sources[#sources + 1] = KEYS[i]
end
if #sources == 0 then
  return 0
end
redis.call('ZUNIONSTORE', KEYS[1], #sources, unpack(sources))
local n = redis.call('ZLEXCOUNT', KEYS[1], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[1])
return n
