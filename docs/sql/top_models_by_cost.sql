-- The 10 models (public names clients asked for) that cost the most in the last 30 days.
SELECT model,
       sum(cost_usd) AS cost_usd,
       sum(requests) AS requests,
       sum(tokens)   AS tokens
FROM spend_daily
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 30
GROUP BY model
ORDER BY cost_usd DESC, model
LIMIT 10;
