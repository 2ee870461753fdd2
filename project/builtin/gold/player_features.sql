/*
# One row per player per active day, over the 7 and 28 days ending that day (inclusive).
# The features of day D are known at the end of D, which `feature_ts` records for
# point-in-time joins.
pii = { player_id = "hash" }
grain = ["event_date", "player_id"]
# Reads 27 days before each day it computes: a change on day D changes D .. D+27.
lookback_days = 27

[[expect]]
name = "features_fresh"
check = { kind = "freshness", column = "event_date", max_age_s = 259200 }
action = "warn"
*/
SELECT d.event_date, CAST(d.player_id AS VARCHAR) AS player_id,
       CAST(d.event_date + INTERVAL '1 day' AS TIMESTAMP) AS feature_ts,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.sessions ELSE 0 END) AS sessions_7d,
       sum(h.sessions) AS sessions_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.playtime_s ELSE 0 END) AS playtime_s_7d,
       sum(h.playtime_s) AS playtime_s_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.missions_completed ELSE 0 END) AS missions_completed_7d,
       sum(h.missions_completed) AS missions_completed_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.missions_failed ELSE 0 END) AS missions_failed_7d,
       sum(h.missions_failed) AS missions_failed_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.credits_earned ELSE 0 END) AS credits_earned_7d,
       sum(h.credits_earned) AS credits_earned_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.credits_spent ELSE 0 END) AS credits_spent_7d,
       sum(h.credits_spent) AS credits_spent_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.agent_interactions ELSE 0 END) AS agent_interactions_7d,
       sum(h.agent_interactions) AS agent_interactions_28d,
       count(DISTINCT CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.event_date END) AS active_days_7d,
       count(DISTINCT h.event_date) AS active_days_28d
FROM gold.player_daily d
JOIN gold.player_daily h
  ON h.player_id = d.player_id AND h.event_date <= d.event_date
 AND h.event_date > d.event_date - INTERVAL '28 days'
GROUP BY d.event_date, d.player_id
