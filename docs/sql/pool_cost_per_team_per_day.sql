-- Reserved GPU pools: each day's GPU bill (GPU $/hour x hours; today: the hours so far) spread
-- over the tokens the pool actually served. pool_usd_per_mtok is the pool's effective price
-- that day; gpu_usd is each team's share of the bill, by its tokens. Last 30 days.
-- Rows carry the pool's GPU $/hour in tags (pool_gpu_usd_per_hour) when they are written.
WITH served AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date                 AS day,
           provider,
           coalesce(team, '(none)')                              AS team,
           prompt_tokens + completion_tokens                     AS tokens,
           (tags ->> 'pool_gpu_usd_per_hour')::numeric           AS gpu_usd_per_hour
    FROM spend_log
    WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') - interval '30 days'
      AND tags ->> 'pool_billing' = 'reserved'
), bill AS (
    SELECT day,
           provider,
           sum(tokens)                                           AS tokens,
           max(gpu_usd_per_hour)
             * least(24, extract(epoch FROM (now() AT TIME ZONE 'UTC') - day) / 3600)
                                                                 AS gpu_usd
    FROM served
    GROUP BY day, provider
)
SELECT s.day,
       s.provider,
       s.team,
       sum(s.tokens)                                             AS tokens,
       round(b.gpu_usd * sum(s.tokens) / nullif(b.tokens, 0), 6) AS gpu_usd,
       round(b.gpu_usd / nullif(b.tokens, 0) * 1000000, 4)       AS pool_usd_per_mtok
FROM served s
JOIN bill b USING (day, provider)
GROUP BY s.day, s.provider, s.team, b.gpu_usd, b.tokens
ORDER BY s.day, s.provider, s.team;
