-- Take one in-flight slot on a pool replica, shared by every gateway: the replica's safety
-- limit holds across gateways. KEYS[1]: the replica's lease zset (member lease id, score expiry).
-- ARGV: lease id, limit, lease_ms. Returns 1 (taken) or 0 (the replica is at its limit).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
