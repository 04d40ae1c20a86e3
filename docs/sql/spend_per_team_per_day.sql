-- USD and requests per team per day, last 30 days (requests without a team show as '(none)').
SELECT day,
       coalesce(team, '(none)') AS team,
       sum(cost_usd)            AS cost_usd,
       sum(requests)            AS requests
FROM spend_daily
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 30
GROUP BY day, coalesce(team, '(none)')
ORDER BY day, team;
