/*
# Per agent and day: invocations, success rate, exact latency percentiles, tokens, cost and
# ratings. Percentiles interpolate linearly between the two nearest ranks, as
# `percentile_cont` in Postgres and DuckDB.
grain = ["event_date", "agent_id"]

[[expect]]
name = "success_rate_0_to_1"
check = { kind = "range", column = "success_rate", min = 0, max = 1 }
action = "fail"

[[expect]]
name = "p95_at_least_p50"
check = { kind = "sql", expr = "latency_p95_ms IS NULL OR latency_p95_ms >= latency_p50_ms" }
action = "fail"

[[expect]]
name = "one_row_per_agent_day"
check = { kind = "sql", expr = "count(*) OVER (PARTITION BY event_date, agent_id) = 1" }
action = "fail"
*/
WITH completed AS (
  SELECT event_date, agent_id, status, tokens_in, tokens_out, cost_usd, latency_ms
  FROM silver.agent_invocations
  WHERE event_type = 'agent.invocation.completed' AND agent_id IS NOT NULL
    AND latency_ms IS NOT NULL),
-- Ranks are computed over the latencies alone: the sort (a whole day of invocations, the peak
-- of a replay's memory) holds three columns, not the row; the other measures aggregate apart.
ranked AS (
  SELECT event_date, agent_id, CAST(latency_ms AS DOUBLE) AS latency,
         CAST(row_number() OVER (PARTITION BY event_date, agent_id ORDER BY latency_ms) - 1 AS DOUBLE) AS r,
         CAST(count(*) OVER (PARTITION BY event_date, agent_id) - 1 AS DOUBLE) AS last_rank
  FROM completed),
pct AS (
  SELECT event_date, agent_id,
         round(sum(CASE WHEN r = floor(0.5 * last_rank) THEN latency * (1.0 - (0.5 * last_rank - r))
                        WHEN r = floor(0.5 * last_rank) + 1.0 THEN latency * (0.5 * last_rank - floor(0.5 * last_rank))
                        ELSE 0.0 END), 3) AS latency_p50_ms,
         round(sum(CASE WHEN r = floor(0.95 * last_rank) THEN latency * (1.0 - (0.95 * last_rank - r))
                        WHEN r = floor(0.95 * last_rank) + 1.0 THEN latency * (0.95 * last_rank - floor(0.95 * last_rank))
                        ELSE 0.0 END), 3) AS latency_p95_ms
  FROM ranked GROUP BY event_date, agent_id),
totals AS (
  SELECT event_date, agent_id,
         count(*) AS invocations,
         avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END) AS success_rate,
         sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
         round(sum(cost_usd), 6) AS cost_usd
  FROM completed GROUP BY event_date, agent_id),
inv AS (
  SELECT totals.event_date, totals.agent_id, invocations, success_rate,
         latency_p50_ms, latency_p95_ms, tokens_in, tokens_out, cost_usd
  FROM totals JOIN pct ON totals.event_date = pct.event_date AND totals.agent_id = pct.agent_id),
fb AS (
  SELECT event_date, agent_id, avg(CAST(rating AS DOUBLE)) AS avg_rating, count(*) AS ratings
  FROM silver.agent_feedback
  WHERE agent_id IS NOT NULL
  GROUP BY event_date, agent_id)
SELECT coalesce(inv.event_date, fb.event_date) AS event_date,
       CAST(coalesce(inv.agent_id, fb.agent_id) AS VARCHAR) AS agent_id,
       coalesce(inv.invocations, 0) AS invocations,
       inv.success_rate, inv.latency_p50_ms, inv.latency_p95_ms,
       coalesce(inv.tokens_in, 0) AS tokens_in, coalesce(inv.tokens_out, 0) AS tokens_out,
       coalesce(inv.cost_usd, 0.0) AS cost_usd,
       round(fb.avg_rating, 6) AS avg_rating, coalesce(fb.ratings, 0) AS ratings
FROM inv FULL OUTER JOIN fb ON inv.event_date = fb.event_date AND inv.agent_id = fb.agent_id
