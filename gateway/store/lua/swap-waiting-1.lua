--[[
  Compare-and-set on records of the jobs waiting at the gateway (or being sent
  by a replica that holds them): each replaced only while it still carries the
  claim its holder expects, so of several replicas taking the same record
  exactly one succeeds. Several swaps in one call are done in order, each as if
  alone.

  Input:
    KEYS[1]  waiting hash              <p>:jobs:waiting
    ARGV     per swap, four values:
      job id (the field)
      the claim the record must carry now ('' for a record without one)
      the new record (JSON); '' removes it
      the new record's claim; '' when removing

  Output: per swap, 1 when replaced, or when the record already carries the
  new claim (the same call repeated after a lost reply); 0 otherwise
]]
local results = {}
for i = 1, #ARGV, 4 do
  local id, expected, record, claimed = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local current = redis.call('HGET', KEYS[1], id)
  local done = 0
  if current then
    -- A record from before claims existed has none: '' names it.
    local claim = cjson.decode(current).claim or ''
    if claim == expected then
      if record == '' then
        redis.call('HDEL', KEYS[1], id)
      else
        redis.call('HSET', KEYS[1], id, record)
      end
      done = 1
    elseif claimed ~= '' and claim == claimed then
      done = 1
    end
  end
  results[#results + 1] = done
end
return results
