-- Spend per agent session in the last 7 days: Claude Code sends x-claude-code-session-id, any
-- other client may send x-session-id; the gateway keeps it in tags.session_id.
SELECT tags->>'session_id'                     AS session_id,
       min(team)                                AS team,
       count(*)                                 AS requests,
       sum(prompt_tokens + completion_tokens)   AS tokens,
       coalesce(sum(cost_usd), 0)               AS cost_usd,
       min(created_at)                          AS started,
       max(created_at)                          AS last_request
FROM spend_log
WHERE created_at >= now() - interval '7 days'
  AND tags ? 'session_id'
GROUP BY tags->>'session_id'
ORDER BY cost_usd DESC, session_id
LIMIT 50;
