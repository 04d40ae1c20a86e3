-- Atomic check-and-reserve over every scope of one deployment (all keys share the provider's
-- hash tag, so this runs on Redis Cluster). Same contract as quota.LocalQuota.reserve.
-- KEYS: per scope, three keys: window zset (member "resid|tokens", score ms), token total, leases zset
-- ARGV: resid, tokens, window_ms, lease_ms, then per scope: rpm, tpm, max_concurrency (0 = none)
-- Returns {1, now_ms} or {0, limit, scope_index, retry_after_ms}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local resid, tokens = ARGV[1], tonumber(ARGV[2])
local window, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
local scopes = #KEYS / 3

for i = 0, scopes - 1 do
  local w, tk, c = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local rpm, tpm, maxc = tonumber(ARGV[5 + i * 3]), tonumber(ARGV[6 + i * 3]), tonumber(ARGV[7 + i * 3])
  local cutoff = now - window
  local old = redis.call('ZRANGEBYSCORE', w, '-inf', cutoff)
  if #old > 0 then
    local freed = 0
    for _, m in ipairs(old) do
      freed = freed + tonumber(string.match(m, '|(%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', w, '-inf', cutoff)
    redis.call('DECRBY', tk, freed)
  end
  redis.call('ZREMRANGEBYSCORE', c, '-inf', now)
  local oldest = redis.call('ZRANGE', w, 0, 0, 'WITHSCORES')
  local retry = 1000
  if #oldest > 0 then retry = tonumber(oldest[2]) + window - now end
  if rpm > 0 and redis.call('ZCARD', w) + 1 > rpm then
    return {0, 'rpm', i, retry}
  end
  if tpm > 0 then
    local used = tonumber(redis.call('GET', tk) or '0')
    if used > 0 and used + tokens > tpm then
      return {0, 'tpm', i, retry}
    end
  end
  if maxc > 0 and redis.call('ZCARD', c) >= maxc then
    return {0, 'max_concurrency', i, 1000}
  end
end

for i = 0, scopes - 1 do
  local w, tk, c = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  redis.call('ZADD', w, now, resid .. '|' .. tokens)
  redis.call('INCRBY', tk, tokens)
  redis.call('PEXPIRE', w, window + 1000)
  redis.call('PEXPIRE', tk, window + 1000)
  redis.call('ZADD', c, now + lease, resid)
  redis.call('PEXPIRE', c, lease + 1000)
end
return {1, now}
