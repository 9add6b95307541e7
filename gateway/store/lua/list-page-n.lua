--[[
  One page of a listing the indexes answer exactly, and its total, in one
  step: the ids of several zsets (all of score 0, so in lex order, which is
  creation order) merged in query order, each id once, read a few at a time
  per zset, so that a page drawn from many zsets reads little more than the
  page itself.

  Input:
    KEYS[1]   scratch zset  <p>:jobs:scratch:union, written and deleted here
    KEYS[2…]  the zsets
    ARGV[1]   range min of the whole listing ('-', '[id' or '(id'), for the total
    ARGV[2]   range max of the whole listing ('+', '[id' or '(id')
    ARGV[3]   range min of this page (past the cursor when ascending)
    ARGV[4]   range max of this page (past the cursor when descending)
    ARGV[5]   'ASC' or 'DESC'
    ARGV[6]   how many ids to return at most
    ARGV[7]   '1': the zsets may share ids, so the total counts their union; '0': they are disjoint

  Output: {total, id, id, …}
]]
local n = #KEYS - 1
local ascending = ARGV[5] == 'ASC'
local wanted = tonumber(ARGV[6])

local total = 0
if n > 0 and ARGV[7] == '1' then
  local sources = {}
  for i = 2, #KEYS do
    sources[#sources + 1] = KEYS[i]
  end
  redis.call('ZUNIONSTORE', KEYS[1], n, unpack(sources))
  total = redis.call('ZLEXCOUNT', KEYS[1], ARGV[1], ARGV[2])
  redis.call('DEL', KEYS[1])
else
  for i = 2, #KEYS do
    if ARGV[1] == '-' and ARGV[2] == '+' then
      total = total + redis.call('ZCARD', KEYS[i])
    else
      total = total + redis.call('ZLEXCOUNT', KEYS[i], ARGV[1], ARGV[2])
    end
  end
end

-- Each zset's next ids in query order, `chunk` at a time; `bound` is where its next read starts.
local chunk = math.floor(wanted / math.max(n, 1)) + 2
local buffer, at, bound, done = {}, {}, {}, {}
local function refill(i)
  local ids
  if ascending then
    ids = redis.call('ZRANGEBYLEX', KEYS[i + 1], bound[i], ARGV[4], 'LIMIT', 0, chunk)
  else
    ids = redis.call('ZREVRANGEBYLEX', KEYS[i + 1], bound[i], ARGV[3], 'LIMIT', 0, chunk)
  end
  buffer[i], at[i], done[i] = ids, 1, #ids < chunk
  if #ids > 0 then
    bound[i] = '(' .. ids[#ids]
  end
end
for i = 1, n do
  bound[i] = ascending and ARGV[3] or ARGV[4]
  refill(i)
end

local page, previous = {total}, nil
while #page - 1 < wanted do
  local best, bestId = nil, nil
  for i = 1, n do
    if at[i] > #buffer[i] and not done[i] then
      refill(i)
    end
    local id = buffer[i][at[i]]
    if id and (bestId == nil or (ascending and id < bestId) or (not ascending and id > bestId)) then
      best, bestId = i, id
    end
  end
  if best == nil then
    break
  end
  at[best] = at[best] + 1
  if bestId ~= previous then
    page[#page + 1] = bestId
    previous = bestId
  end
end
return page
