-- p95 time to first token (ms) per provider per hour, last 24 hours. Nearest-rank percentile:
-- a value that was really observed. Requests without a first token (failures) are left out.
SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC')                 AS hour,
       provider,
       count(*)                                                          AS requests,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY ttft_ms)             AS p95_ttft_ms
FROM spend_log
WHERE created_at >= now() - interval '24 hours'
  AND provider IS NOT NULL
  AND ttft_ms IS NOT NULL
GROUP BY 1, provider
ORDER BY hour, provider;
