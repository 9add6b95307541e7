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

-- A binary heap of the zsets by their next id, first in query order on top: a page from many
-- zsets costs a few comparisons an id, not one a zset.
local heap = {}
local function first(a, b)
  local x, y = buffer[a][at[a]], buffer[b][at[b]]
  if ascending then
    return x < y
  end
  return x > y
end
local function up(position)
  while position > 1 do
    local parent = math.floor(position / 2)
    if not first(heap[position], heap[parent]) then
      return
    end
    heap[position], heap[parent] = heap[parent], heap[position]
    position = parent
  end
end
local function down(position)
  local size = #heap
  while true do
    local best, left = position, 2 * position
    if left <= size and first(heap[left], heap[best]) then
      best = left
    end
    if left + 1 <= size and first(heap[left + 1], heap[best]) then
      best = left + 1
    end
    if best == position then
      return
    end
    heap[position], heap[best] = heap[best], heap[position]
    position = best
  end
end

for i = 1, n do
  bound[i] = ascending and ARGV[3] or ARGV[4]
  refill(i)
  if #buffer[i] > 0 then
    heap[#heap + 1] = i
    up(#heap)
  end
end

local page, previous = {total}, nil
while #page - 1 < wanted and #heap > 0 do
  local top = heap[1]
  local id = buffer[top][at[top]]
  at[top] = at[top] + 1
  if at[top] > #buffer[top] and not done[top] then
    refill(top)
  end
  if buffer[top][at[top]] == nil then
    heap[1] = heap[#heap]
    heap[#heap] = nil
  end
  if #heap > 0 then
    down(1)
  end
  if id ~= previous then
    page[#page + 1] = id
    previous = id
  end
end
return page
