"""The Gold daily aggregates run by DuckDB on the same Silver Parquet files, timed.

usage: bench_gold_duckdb.py LAKE_DIR     prints {"seconds": ..., "rows": {...}} as JSON
Only query execution is timed (not Python start-up or file listing).
"""
import json
import sys
import time

import duckdb
from deltalake import DeltaTable

lake = sys.argv[1]
con = duckdb.connect()
for name in ["agent_invocations", "agent_feedback", "player_sessions", "missions", "economy_transactions"]:
    files = DeltaTable(f"{lake}/silver/{name}").file_uris()
    listing = ", ".join(f"'{f.replace('file://', '')}'" for f in files)
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], hive_partitioning = true)")

QUERIES = {
    "agent_daily": """
WITH inv AS (
  SELECT event_date, agent_id, count(*) AS invocations,
         avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END) AS success_rate,
         round(quantile_cont(latency_ms, 0.5), 3) AS latency_p50_ms,
         round(quantile_cont(latency_ms, 0.95), 3) AS latency_p95_ms,
         sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, round(sum(cost_usd), 6) AS cost_usd
  FROM agent_invocations
  WHERE event_type = 'agent.invocation.completed' AND agent_id IS NOT NULL AND latency_ms IS NOT NULL
  GROUP BY event_date, agent_id),
fb AS (SELECT event_date, agent_id, avg(CAST(rating AS DOUBLE)) AS avg_rating, count(*) AS ratings
       FROM agent_feedback WHERE agent_id IS NOT NULL GROUP BY event_date, agent_id)
SELECT coalesce(inv.event_date, fb.event_date) AS event_date, coalesce(inv.agent_id, fb.agent_id) AS agent_id,
       coalesce(invocations, 0), success_rate, latency_p50_ms, latency_p95_ms, coalesce(tokens_in, 0),
       coalesce(tokens_out, 0), coalesce(cost_usd, 0.0), round(avg_rating, 6), coalesce(ratings, 0)
FROM inv FULL OUTER JOIN fb ON inv.event_date = fb.event_date AND inv.agent_id = fb.agent_id""",
    "player_daily": """
WITH parts AS (
  SELECT event_date, player_id, 1 AS sessions, coalesce(duration_s, 0) AS playtime_s, 0 AS mc, 0 AS mf,
         0 AS ce, 0 AS cs, 0 AS ai FROM player_sessions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0, CASE WHEN event_type = 'mission.completed' THEN 1 ELSE 0 END,
         CASE WHEN event_type = 'mission.failed' THEN 1 ELSE 0 END, 0, 0, 0 FROM missions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0,
         CASE WHEN direction = 'earn' AND currency = 'CREDITS' THEN amount ELSE 0 END,
         CASE WHEN direction = 'spend' AND currency = 'CREDITS' THEN amount ELSE 0 END, 0
  FROM economy_transactions WHERE player_id IS NOT NULL
  UNION ALL
  SELECT event_date, player_id, 0, 0, 0, 0, 0, 0, 1 FROM agent_invocations
  WHERE player_id IS NOT NULL AND event_type = 'agent.invocation.started')
SELECT event_date, player_id, sum(sessions), sum(playtime_s), sum(mc), sum(mf), sum(ce), sum(cs), sum(ai)
FROM parts GROUP BY event_date, player_id""",
    "economy_daily": """
SELECT event_date, currency, sum(CASE WHEN direction = 'earn' THEN amount ELSE 0 END),
       sum(CASE WHEN direction = 'spend' THEN amount ELSE 0 END), count(*), count(DISTINCT player_id)
FROM economy_transactions GROUP BY event_date, currency""",
}

rows = {}
t0 = time.perf_counter()
for name, sql in QUERIES.items():
    rows[name] = len(con.execute(sql).fetchall())
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "rows": rows, "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))
