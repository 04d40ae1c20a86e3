-- Reserve one request at every level of a caller (its key, its team) together, or none.
-- KEYS: per allowance, 6 keys: requests this minute, last minute, tokens this minute, last
--       minute, micro-USD today, this month.
-- ARGV: tokens, micro_usd, weight of last minute (0..1), then per allowance 4 caps
--       (rpm, tpm, usd_day, usd_month; -1: none).
-- Returns {1} granted, {0, allowance index (0-based), limit index (0 rpm, 1 tpm, 2 day, 3 month)}
-- refused, or {2, allowance index} when a budget's counter is missing (a new day, or Redis
-- flushed): the caller seeds it from the ledger (SET NX) and asks again.
local tokens = tonumber(ARGV[1])
local micro = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local n = #KEYS / 6
local function num(key) return tonumber(redis.call('GET', key) or '0') end
for i = 0, n - 1 do
  local k = i * 6
  local a = 4 + i * 4
  if (tonumber(ARGV[a + 2]) >= 0 and redis.call('EXISTS', KEYS[k + 5]) == 0)
    or (tonumber(ARGV[a + 3]) >= 0 and redis.call('EXISTS', KEYS[k + 6]) == 0) then
    return {2, i}
  end
end
for i = 0, n - 1 do
  local k = i * 6
  local a = 4 + i * 4
  local rpm, tpm, day, month = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if rpm >= 0 and num(KEYS[k + 1]) + num(KEYS[k + 2]) * weight + 1 > rpm then return {0, i, 0} end
  if tpm >= 0 and num(KEYS[k + 3]) + num(KEYS[k + 4]) * weight + tokens > tpm then return {0, i, 1} end
  if day >= 0 and num(KEYS[k + 5]) + micro > day then return {0, i, 2} end
  if month >= 0 and num(KEYS[k + 6]) + micro > month then return {0, i, 3} end
end
for i = 0, n - 1 do
  local k = i * 6
  redis.call('INCRBY', KEYS[k + 1], 1)
  redis.call('EXPIRE', KEYS[k + 1], 130)
  redis.call('INCRBY', KEYS[k + 3], tokens)
  redis.call('EXPIRE', KEYS[k + 3], 130)
  redis.call('INCRBY', KEYS[k + 5], micro)
  redis.call('EXPIRE', KEYS[k + 5], 172800)
  redis.call('INCRBY', KEYS[k + 6], micro)
  redis.call('EXPIRE', KEYS[k + 6], 2764800)
end
return {1}
