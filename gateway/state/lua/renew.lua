-- Renew this replica's in-flight leases (its heartbeat), so a crashed replica's expire.
-- KEYS: lease zsets; ARGV: lease_ms, then the resids to renew (each in every key)
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for _, c in ipairs(KEYS) do
  for j = 2, #ARGV do
    redis.call('ZADD', c, 'XX', until_ms, ARGV[j])
  end
end
return 1
