/*
# Per player and day: sessions, playtime, missions, credits and agent interactions.
pii = { player_id = "hash" }
grain = ["event_date", "player_id"]

[[expect]]
name = "playtime_non_negative"
check = { kind = "range", column = "playtime_s", min = 0 }
action = "fail"

[[expect]]
name = "player_id_present"
check = { kind = "not_null", column = "player_id" }
action = "fail"
*/
WITH parts AS (
  SELECT event_date, player_id, 1 AS sessions, coalesce(duration_s, 0) AS playtime_s,
         0 AS missions_completed, 0 AS missions_failed, 0 AS credits_earned, 0 AS credits_spent,
         0 AS agent_interactions
  FROM silver.player_sessions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0,
         CASE WHEN event_type = 'mission.completed' THEN 1 ELSE 0 END,
         CASE WHEN event_type = 'mission.failed' THEN 1 ELSE 0 END, 0, 0, 0
  FROM silver.missions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0,
         CASE WHEN direction = 'earn' AND currency = 'CREDITS' THEN amount ELSE 0 END,
         CASE WHEN direction = 'spend' AND currency = 'CREDITS' THEN amount ELSE 0 END, 0
  FROM silver.economy_transactions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0, 0, 0, 1
  FROM silver.agent_invocations
  WHERE player_id IS NOT NULL AND event_type = 'agent.invocation.started')
SELECT event_date, CAST(player_id AS VARCHAR) AS player_id,
       sum(sessions) AS sessions, sum(playtime_s) AS playtime_s,
       sum(missions_completed) AS missions_completed, sum(missions_failed) AS missions_failed,
       sum(credits_earned) AS credits_earned, sum(credits_spent) AS credits_spent,
       sum(agent_interactions) AS agent_interactions
FROM parts GROUP BY event_date, player_id
