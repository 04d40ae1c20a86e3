-- Budget burn-down per team, this UTC month: one row per team (of the teams table) per day from
-- the 1st to today. day_usd is that day's spend against the daily budget; month_to_date_usd is
-- the month's spend so far (cumulative, to the end of that day) against the monthly budget.
-- *_used_pct: share of the budget used (over 100: overspent); *_left_usd: what is left, never
-- below 0. Both are NULL when the team has no such budget. Keys' own budgets: the _per_key file.
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                         date_trunc('day', now() AT TIME ZONE 'UTC'),
                         interval '1 day') AS d
), spent AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
           team,
           sum(cost_usd)                         AS cost_usd
    FROM spend_log
    WHERE created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      AND team IS NOT NULL
    GROUP BY 1, 2
), burn AS (
    SELECT d.day,
           t.name                                AS team,
           coalesce(s.cost_usd, 0)               AS day_usd,
           t.budget_usd_day,
           sum(coalesce(s.cost_usd, 0)) OVER (PARTITION BY t.name ORDER BY d.day)
                                                 AS month_to_date_usd,
           t.budget_usd_month
    FROM teams t
    CROSS JOIN days d
    LEFT JOIN spent s ON s.team = t.name AND s.day = d.day
)
SELECT day,
       team,
       day_usd,
       budget_usd_day,
       round(100 * day_usd / nullif(budget_usd_day, 0), 2)                AS day_used_pct,
       CASE WHEN budget_usd_day IS NOT NULL
            THEN greatest(budget_usd_day - day_usd, 0) END              AS day_left_usd,
       month_to_date_usd,
       budget_usd_month,
       round(100 * month_to_date_usd / nullif(budget_usd_month, 0), 2)    AS month_used_pct,
       CASE WHEN budget_usd_month IS NOT NULL
            THEN greatest(budget_usd_month - month_to_date_usd, 0) END  AS month_left_usd
FROM burn
ORDER BY team, day;
