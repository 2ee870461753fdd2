//! The Gold tables and the SQL that builds each from Silver. `{days}` is replaced by the list
//! of days to recompute.

use strata_pipelines::TableName;
use strata_quality::{Action, Check, Expectation};

/// One Gold table.
#[derive(Debug, Clone)]
pub struct GoldTable {
    pub name: &'static str,
    pub inputs: &'static [&'static str],
    pub sql: &'static str,
    /// Rolling tables: a change on day D also changes days D+1 .. D+lookahead.
    pub lookahead_days: u32,
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

/// Percentiles are exact: linear interpolation between the two nearest ranks, as
/// `percentile_cont` in Postgres and DuckDB, from each (day, agent)'s ranked latencies.
const AGENT_DAILY: &str = "
WITH completed AS (
  SELECT event_date, agent_id, status, tokens_in, tokens_out, cost_usd,
         CAST(latency_ms AS DOUBLE) AS latency,
         CAST(row_number() OVER (PARTITION BY event_date, agent_id ORDER BY latency_ms) - 1 AS DOUBLE) AS r,
         CAST(count(*) OVER (PARTITION BY event_date, agent_id) - 1 AS DOUBLE) AS last_rank
  FROM silver.agent_invocations
  WHERE event_type = 'agent.invocation.completed' AND agent_id IS NOT NULL
    AND latency_ms IS NOT NULL AND event_date IN ({days})),
inv AS (
  SELECT event_date, agent_id,
         count(*) AS invocations,
         avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END) AS success_rate,
         round(sum(CASE WHEN r = floor(0.5 * last_rank) THEN latency * (1.0 - (0.5 * last_rank - r))
                        WHEN r = floor(0.5 * last_rank) + 1.0 THEN latency * (0.5 * last_rank - floor(0.5 * last_rank))
                        ELSE 0.0 END), 3) AS latency_p50_ms,
         round(sum(CASE WHEN r = floor(0.95 * last_rank) THEN latency * (1.0 - (0.95 * last_rank - r))
                        WHEN r = floor(0.95 * last_rank) + 1.0 THEN latency * (0.95 * last_rank - floor(0.95 * last_rank))
                        ELSE 0.0 END), 3) AS latency_p95_ms,
         sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
         round(sum(cost_usd), 6) AS cost_usd
  FROM completed GROUP BY event_date, agent_id),
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

/// One row per player per active day; windows end on that day (inclusive). The features of
/// day D are known at the end of D, which `feature_ts` records for point-in-time joins.
const PLAYER_FEATURES: &str = "
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
FROM (SELECT event_date, player_id FROM gold.player_daily WHERE event_date IN ({days})) d
JOIN gold.player_daily h
  ON h.player_id = d.player_id AND h.event_date <= d.event_date
 AND h.event_date > d.event_date - INTERVAL '28 days'
GROUP BY d.event_date, d.player_id";

const AGENT_FEATURES: &str = "
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
FROM (SELECT event_date, agent_id FROM gold.agent_daily WHERE event_date IN ({days})) d
JOIN gold.agent_daily h
  ON h.agent_id = d.agent_id AND h.event_date <= d.event_date
 AND h.event_date > d.event_date - INTERVAL '28 days'
GROUP BY d.event_date, d.agent_id";

/// Every Gold table, in DAG order.
pub fn all_tables() -> Vec<GoldTable> {
    vec![
        GoldTable {
            name: "agent_daily",
            inputs: &["silver.agent_invocations", "silver.agent_feedback"],
            sql: AGENT_DAILY,
            lookahead_days: 0,
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
            lookahead_days: 0,
        },
        GoldTable {
            name: "economy_daily",
            inputs: &["silver.economy_transactions"],
            sql: ECONOMY_DAILY,
            lookahead_days: 0,
        },
        GoldTable {
            name: "player_features",
            inputs: &["gold.player_daily"],
            sql: PLAYER_FEATURES,
            lookahead_days: 27,
        },
        GoldTable {
            name: "agent_features",
            inputs: &["gold.agent_daily"],
            sql: AGENT_FEATURES,
            lookahead_days: 27,
        },
    ]
}

impl GoldTable {
    /// The table's expectations, checked on every recomputed batch before it replaces its
    /// days.
    pub fn expectations(&self) -> Vec<Expectation> {
        use Action::{Fail, Warn};
        let col = |c: &str| c.to_string();
        let range = |c: &str, min: Option<f64>, max: Option<f64>| Check::Range {
            column: col(c),
            min,
            max,
        };
        match self.name {
            "agent_daily" => vec![
                Expectation::new(
                    "success_rate_0_to_1",
                    range("success_rate", Some(0.0), Some(1.0)),
                    Fail,
                ),
                Expectation::new(
                    "p95_at_least_p50",
                    Check::Sql {
                        expr: col("latency_p95_ms IS NULL OR latency_p95_ms >= latency_p50_ms"),
                    },
                    Fail,
                ),
                Expectation::new(
                    "one_row_per_agent_day",
                    Check::Sql {
                        expr: col("count(*) OVER (PARTITION BY event_date, agent_id) = 1"),
                    },
                    Fail,
                ),
            ],
            "player_daily" => vec![
                Expectation::new(
                    "playtime_non_negative",
                    range("playtime_s", Some(0.0), None),
                    Fail,
                ),
                Expectation::new(
                    "player_id_present",
                    Check::NotNull {
                        column: col("player_id"),
                    },
                    Fail,
                ),
            ],
            "economy_daily" => vec![
                Expectation::new(
                    "has_rows",
                    Check::RowCount {
                        min: Some(1),
                        max: None,
                    },
                    Warn,
                ),
                Expectation::new(
                    "volume_non_negative",
                    range("earned", Some(0.0), None),
                    Fail,
                ),
            ],
            "player_features" | "agent_features" => vec![Expectation::new(
                "features_fresh",
                Check::Freshness {
                    column: col("event_date"),
                    max_age_s: 3 * 86_400,
                },
                Warn,
            )],
            _ => Vec::new(),
        }
    }
}
