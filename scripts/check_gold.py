"""Independent check of Gold: recompute the daily aggregates with DuckDB straight from the raw
Bronze events (JSON text, deduplicated by event_id) and compare with our Gold tables. Rows the
Silver expectations drop (amount below 1) are left out, as in Silver. JSON integers are read
through DOUBLE so that `-0.0`, `1e2` and `50.0` count as the integers JSON Schema says they are.

Also counts, per integer column of silver.missions and silver.economy_transactions, the valid
records whose value is present but no 64-bit integer (Silver stores NULL and must report it).

usage: check_gold.py LAKE_DIR [--events OTHER_LAKE] [--without VALUE]
    prints {"economy_daily": {...}, "agent_daily": {...},
            "untyped": {"silver.missions.duration_s": N, ...}}
--events reads the raw events from another lake's Bronze (a copy taken before an erasure);
--without leaves out every record whose JSON holds VALUE as a whole token (an erased entity).
"""
import argparse
import json
import re

import duckdb
from deltalake import DeltaTable

args = argparse.ArgumentParser()
args.add_argument("lake")
args.add_argument("--events")
args.add_argument("--without")
args = args.parse_args()
lake = args.lake
con = duckdb.connect()
con.register("bronze_all", DeltaTable(f"{args.events or lake}/bronze/events").to_pyarrow_table())
keep = "TRUE"
if args.without:
    token = re.escape(args.without).replace("'", "''")
    keep = f"NOT regexp_matches(decode(value), '(^|[^A-Za-z0-9_-]){token}($|[^A-Za-z0-9_-])')"
con.execute(f"CREATE VIEW bronze AS SELECT * FROM bronze_all WHERE NOT valid OR ({keep})")
con.execute("""
CREATE TABLE valid_events AS
SELECT decode(value)::JSON AS j FROM bronze WHERE valid;
CREATE TABLE events AS
SELECT * FROM (
  SELECT j, row_number() OVER (PARTITION BY event_id ORDER BY topic, "partition", "offset") AS rn
  FROM (SELECT decode(value)::JSON AS j, event_id, topic, "partition", "offset"
        FROM bronze WHERE valid)
) WHERE rn = 1
""")

ours_economy = DeltaTable(f"{lake}/gold/economy_daily").to_pyarrow_table()
ours_agent = DeltaTable(f"{lake}/gold/agent_daily").to_pyarrow_table()
con.register("ours_economy", ours_economy)
con.register("ours_agent", ours_agent)

economy = """
SELECT CAST(CAST(json_extract_string(j, '$.occurred_at') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS event_date,
       json_extract_string(j, '$.payload.currency') AS currency,
       sum(CASE WHEN json_extract_string(j, '$.payload.direction') = 'earn' THEN CAST(json_extract_string(j, '$.payload.amount') AS BIGINT) ELSE 0 END) AS earned,
       sum(CASE WHEN json_extract_string(j, '$.payload.direction') = 'spend' THEN CAST(json_extract_string(j, '$.payload.amount') AS BIGINT) ELSE 0 END) AS spent,
       count(*) AS transactions, count(DISTINCT json_extract_string(j, '$.player_id')) AS players
FROM events WHERE json_extract_string(j, '$.event_type') = 'economy.transaction' GROUP BY 1, 2
"""
# Integers read through DOUBLE: exact for every value the schemas admit (at most 10^12).
INT = "CAST(CAST(json_extract_string(j, '$.payload.{}') AS DOUBLE) AS BIGINT)"
economy = economy.replace(
    "CAST(json_extract_string(j, '$.payload.amount') AS BIGINT)", INT.format("amount")
).replace(
    "WHERE json_extract_string(j, '$.event_type') = 'economy.transaction'",
    "WHERE json_extract_string(j, '$.event_type') = 'economy.transaction' AND "
    + INT.format("amount") + " >= 1",
)
agent = """
SELECT CAST(CAST(json_extract_string(j, '$.occurred_at') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS event_date,
       json_extract_string(j, '$.agent_id') AS agent_id, count(*) AS invocations,
       round(quantile_cont(CAST(json_extract_string(j, '$.payload.latency_ms') AS DOUBLE), 0.5), 3) AS latency_p50_ms,
       round(quantile_cont(CAST(json_extract_string(j, '$.payload.latency_ms') AS DOUBLE), 0.95), 3) AS latency_p95_ms,
       sum(CAST(CAST(json_extract_string(j, '$.payload.tokens_in') AS DOUBLE) AS BIGINT)) AS tokens_in,
       round(sum(CAST(json_extract_string(j, '$.payload.cost_usd') AS DOUBLE)), 6) AS cost_usd
FROM events WHERE json_extract_string(j, '$.event_type') = 'agent.invocation.completed' AND json_extract_string(j, '$.agent_id') IS NOT NULL
GROUP BY 1, 2
"""


def compare(name, theirs_sql, ours_sql):
    theirs = con.execute(f"SELECT * FROM ({theirs_sql}) ORDER BY ALL").fetchall()
    ours = con.execute(f"SELECT * FROM ({ours_sql}) ORDER BY ALL").fetchall()
    missing = [r for r in theirs if r not in ours][:3]
    extra = [r for r in ours if r not in theirs][:3]
    return {"rows": len(theirs), "ours": len(ours), "equal": theirs == ours,
            "missing": [str(r) for r in missing], "extra": [str(r) for r in extra]}


def untyped(event_types, field):
    """Valid records of these types whose field holds a value that is not a 64-bit integer."""
    types = ", ".join(f"'{t}'" for t in event_types)
    path = f"$.payload.{field}"
    return con.execute(f"""
        SELECT count(*) FROM valid_events
        WHERE json_extract_string(j, '$.event_type') IN ({types})
          AND json_type(j, '{path}') IS NOT NULL AND json_type(j, '{path}') <> 'NULL'
          AND NOT (json_type(j, '{path}') IN ('BIGINT', 'UBIGINT', 'DOUBLE')
                   AND TRY_CAST(json_extract_string(j, '{path}') AS DOUBLE) = floor(TRY_CAST(json_extract_string(j, '{path}') AS DOUBLE))
                   AND abs(TRY_CAST(json_extract_string(j, '{path}') AS DOUBLE)) < 9.2233720368547758e18)
    """).fetchone()[0]


MISSIONS = ["mission.started", "mission.completed", "mission.failed"]
print(json.dumps({
    "untyped": {
        "silver.missions.duration_s": untyped(MISSIONS, "duration_s"),
        "silver.missions.reward_credits": untyped(MISSIONS, "reward_credits"),
        "silver.missions.difficulty": untyped(MISSIONS, "difficulty"),
        "silver.economy_transactions.amount": untyped(["economy.transaction"], "amount"),
    },
    "economy_daily": compare("economy_daily", economy,
        "SELECT event_date, currency, earned, spent, transactions, players FROM ours_economy"),
    "agent_daily": compare("agent_daily", agent,
        "SELECT event_date, agent_id, invocations, latency_p50_ms, latency_p95_ms, tokens_in, cost_usd "
        "FROM ours_agent WHERE invocations > 0"),
}))
