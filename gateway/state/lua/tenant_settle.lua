-- Correct a reservation to what the request really used (deltas may be negative). A counter
-- that expired meanwhile is left alone (recreating it would leave it without an expiry).
-- KEYS: as tenant_reserve.lua. ARGV: token delta, micro-USD delta.
local tokens = tonumber(ARGV[1])
local micro = tonumber(ARGV[2])
local function adjust(key, delta)
  if delta ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, delta) end
end
for i = 0, #KEYS / 6 - 1 do
  local k = i * 6
  adjust(KEYS[k + 3], tokens)
  adjust(KEYS[k + 5], micro)
  adjust(KEYS[k + 6], micro)
end
return 1
