-- Settle a reservation: free its in-flight lease and correct its tokens to what was used.
-- KEYS: per scope, three keys (window, token total, leases), as in reserve.lua
-- ARGV: resid, at_ms (the reservation's score), reserved tokens, used tokens
local resid, at = ARGV[1], ARGV[2]
local reserved, used = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 0, #KEYS / 3 - 1 do
  local w, tk, c = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  redis.call('ZREM', c, resid)
  if reserved ~= used then
    local member = resid .. '|' .. reserved
    if redis.call('ZREM', w, member) == 1 then
      redis.call('ZADD', w, at, resid .. '|' .. used)
      redis.call('INCRBY', tk, used - reserved)
    end
  end
end
return 1
