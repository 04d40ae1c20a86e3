-- What routing saved per route (policy) in the last 30 days, against sending every token to the
-- most expensive deployment that served the same route in that window.
-- The counterfactual price is each deployment's blended USD per token (its cost / its tokens):
-- exact when deployments see a similar prompt/completion mix, an estimate otherwise.
WITH served AS (
    SELECT policy,
           deployment,
           sum(prompt_tokens + completion_tokens) AS tokens,
           sum(cost_usd)                          AS cost_usd
    FROM spend_log
    WHERE created_at >= now() - interval '30 days'
      AND policy IS NOT NULL
      AND cost_usd IS NOT NULL
    GROUP BY policy, deployment
),
priced AS (
    SELECT policy, tokens, cost_usd,
           max(cost_usd / nullif(tokens, 0)) OVER (PARTITION BY policy) AS top_usd_per_token
    FROM served
)
SELECT policy,
       sum(cost_usd)                                   AS actual_usd,
       sum(tokens * top_usd_per_token)                 AS most_expensive_usd,
       sum(tokens * top_usd_per_token) - sum(cost_usd) AS saved_usd,
       round(100 * (1 - sum(cost_usd) / nullif(sum(tokens * top_usd_per_token), 0)), 2)
                                                       AS saved_pct
FROM priced
GROUP BY policy
ORDER BY saved_usd DESC, policy;
