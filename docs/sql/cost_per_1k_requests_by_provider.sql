-- Average USD per 1,000 requests per provider, last 30 days (requests that reached a provider).
SELECT provider,
       sum(requests)                                         AS requests,
       round(sum(cost_usd) * 1000 / sum(requests), 6)        AS usd_per_1k_requests
FROM spend_daily
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 30
  AND provider IS NOT NULL
GROUP BY provider
ORDER BY usd_per_1k_requests DESC, provider;
