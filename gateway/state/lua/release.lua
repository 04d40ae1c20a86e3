-- Undo a reservation that was never used (the caller's own limits refused the request): free
-- its lease and take it out of the window, as if it had never been made.
-- KEYS: per scope, three keys (window, token total, leases), as in reserve.lua
-- ARGV: resid, reserved tokens
local resid, reserved = ARGV[1], tonumber(ARGV[2])
for i = 0, #KEYS / 3 - 1 do
  local w, tk, c = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  redis.call('ZREM', c, resid)
  if redis.call('ZREM', w, resid .. '|' .. reserved) == 1 then
    redis.call('DECRBY', tk, reserved)
  end
end
return 1
