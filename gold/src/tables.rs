//! The Gold tables and the SQL that builds each from Silver. `{days}` is replaced by the list
//! of days to recompute.

use strata_pipelines::TableName;

/// One Gold table.
#[derive(Debug, Clone)]
pub struct GoldTable {
    pub name: &'static str,
    pub inputs: &'static [&'static str],
    pub sql: &'static str,
}

impl GoldTable {
    pub fn table_name(&self) -> TableName {
        TableName::new("gold", self.name)
    }

    pub fn job_name(&self) -> String {
        format!("gold.{}", self.name)
    }

    pub fn input_names(&self) -> Vec<TableName> {
        self.inputs.iter().filter_map(|s| s.parse().ok()).collect()
    }
}

const AGENT_DAILY: &str = "
WITH inv AS (
  SELECT event_date, agent_id,
         count(*) AS invocations,
         avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END) AS success_rate,
         round(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), 3) AS latency_p50_ms,
         round(percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), 3) AS latency_p95_ms,
         sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
         round(sum(cost_usd), 6) AS cost_usd
  FROM silver.agent_invocations
  WHERE event_type = 'agent.invocation.completed' AND agent_id IS NOT NULL AND event_date IN ({days})
  GROUP BY event_date, agent_id),
fb AS (
  SELECT event_date, agent_id, avg(CAST(rating AS DOUBLE)) AS avg_rating, count(*) AS ratings
  FROM silver.agent_feedback
  WHERE agent_id IS NOT NULL AND event_date IN ({days})
  GROUP BY event_date, agent_id)
SELECT coalesce(inv.event_date, fb.event_date) AS event_date,
       CAST(coalesce(inv.agent_id, fb.agent_id) AS VARCHAR) AS agent_id,
       coalesce(inv.invocations, 0) AS invocations,
       inv.success_rate, inv.latency_p50_ms, inv.latency_p95_ms,
       coalesce(inv.tokens_in, 0) AS tokens_in, coalesce(inv.tokens_out, 0) AS tokens_out,
       coalesce(inv.cost_usd, 0.0) AS cost_usd,
       round(fb.avg_rating, 6) AS avg_rating, coalesce(fb.ratings, 0) AS ratings
FROM inv FULL OUTER JOIN fb ON inv.event_date = fb.event_date AND inv.agent_id = fb.agent_id";

const PLAYER_DAILY: &str = "
WITH parts AS (
  SELECT event_date, player_id, 1 AS sessions, coalesce(duration_s, 0) AS playtime_s,
         0 AS missions_completed, 0 AS missions_failed, 0 AS credits_earned, 0 AS credits_spent,
         0 AS agent_interactions
  FROM silver.player_sessions WHERE player_id IS NOT NULL AND event_date IN ({days})
  UNION ALL
  SELECT event_date, player_id, 0, 0,
         CASE WHEN event_type = 'mission.completed' THEN 1 ELSE 0 END,
         CASE WHEN event_type = 'mission.failed' THEN 1 ELSE 0 END, 0, 0, 0
  FROM silver.missions WHERE player_id IS NOT NULL AND event_date IN ({days})
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0,
         CASE WHEN direction = 'earn' AND currency = 'CREDITS' THEN amount ELSE 0 END,
         CASE WHEN direction = 'spend' AND currency = 'CREDITS' THEN amount ELSE 0 END, 0
  FROM silver.economy_transactions WHERE player_id IS NOT NULL AND event_date IN ({days})
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0, 0, 0, 1
  FROM silver.agent_invocations
  WHERE player_id IS NOT NULL AND event_type = 'agent.invocation.started' AND event_date IN ({days}))
SELECT event_date, CAST(player_id AS VARCHAR) AS player_id,
       sum(sessions) AS sessions, sum(playtime_s) AS playtime_s,
       sum(missions_completed) AS missions_completed, sum(missions_failed) AS missions_failed,
       sum(credits_earned) AS credits_earned, sum(credits_spent) AS credits_spent,
       sum(agent_interactions) AS agent_interactions
FROM parts GROUP BY event_date, player_id";

const ECONOMY_DAILY: &str = "
SELECT event_date, CAST(currency AS VARCHAR) AS currency,
       sum(CASE WHEN direction = 'earn' THEN amount ELSE 0 END) AS earned,
       sum(CASE WHEN direction = 'spend' THEN amount ELSE 0 END) AS spent,
       count(*) AS transactions, count(DISTINCT player_id) AS players
FROM silver.economy_transactions WHERE event_date IN ({days})
GROUP BY event_date, currency";

/// Every Gold table, in DAG order.
pub fn all_tables() -> Vec<GoldTable> {
    vec![
        GoldTable {
            name: "agent_daily",
            inputs: &["silver.agent_invocations", "silver.agent_feedback"],
            sql: AGENT_DAILY,
        },
        GoldTable {
            name: "player_daily",
            inputs: &[
                "silver.player_sessions",
                "silver.missions",
                "silver.economy_transactions",
                "silver.agent_invocations",
            ],
            sql: PLAYER_DAILY,
        },
        GoldTable {
            name: "economy_daily",
            inputs: &["silver.economy_transactions"],
            sql: ECONOMY_DAILY,
        },
    ]
}
