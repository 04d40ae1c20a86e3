-- Share of requests per provider over the last 7 days, in percent.
SELECT provider,
       requests,
       round(100.0 * requests / sum(requests) OVER (), 2) AS share_pct
FROM (
    SELECT provider, sum(requests) AS requests
    FROM spend_daily
    WHERE day >= (now() AT TIME ZONE 'UTC')::date - 7
      AND provider IS NOT NULL
    GROUP BY provider
) AS per_provider
ORDER BY share_pct DESC, provider;
