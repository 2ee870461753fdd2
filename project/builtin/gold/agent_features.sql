/*
# One row per agent per active day, over the 7 and 28 days ending that day (inclusive);
# rates are weighted by each day's invocations or ratings.
grain = ["event_date", "agent_id"]
lookback_days = 27

[[expect]]
name = "features_fresh"
check = { kind = "freshness", column = "event_date", max_age_s = 259200 }
action = "warn"
*/
SELECT d.event_date, CAST(d.agent_id AS VARCHAR) AS agent_id,
       CAST(d.event_date + INTERVAL '1 day' AS TIMESTAMP) AS feature_ts,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.invocations ELSE 0 END) AS invocations_7d,
       sum(h.invocations) AS invocations_28d,
       round(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.success_rate * h.invocations ELSE 0 END)
         / nullif(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.invocations ELSE 0 END), 0), 6) AS success_rate_7d,
       round(sum(h.success_rate * h.invocations) / nullif(sum(h.invocations), 0), 6) AS success_rate_28d,
       round(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.cost_usd ELSE 0 END), 6) AS cost_usd_7d,
       round(sum(h.cost_usd), 6) AS cost_usd_28d,
       round(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.avg_rating * h.ratings ELSE 0 END)
         / nullif(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.ratings ELSE 0 END), 0), 6) AS avg_rating_7d,
       round(sum(h.avg_rating * h.ratings) / nullif(sum(h.ratings), 0), 6) AS avg_rating_28d,
       max(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.latency_p95_ms END) AS max_daily_latency_p95_ms_7d
FROM gold.agent_daily d
JOIN gold.agent_daily h
  ON h.agent_id = d.agent_id AND h.event_date <= d.event_date
 AND h.event_date > d.event_date - INTERVAL '28 days'
GROUP BY d.event_date, d.agent_id
