"""Independent check of the fleet example project (examples/projects/fleet): recompute its
Gold tables with DuckDB straight from the records a test produced (newline-delimited JSON, the
bytes sent to Kafka), and compare with the lake's tables read by the deltalake package.

Records that are not JSON objects, or whose alert severity is outside the schema's enum, are
what ingest quarantines; exact re-sends are deduplicated by event_id. Trips are stitched per
trip_id as silver/trips.toml declares: the smallest non-null value of each column among the
trip's events, the day of the start (else of the earliest event).

usage: check_fleet.py RECORDS.jsonl LAKE_DIR
prints {"vehicle_daily": {"rows", "equal", "diff"}, "fleet_daily": {...},
        "vehicle_features": {...}}
"""
import json
import sys

import duckdb
from deltalake import DeltaTable

records, lake = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
docs = []
for line in open(records, encoding="utf-8"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if not isinstance(d, dict):
        continue
    if d.get("event_type") == "vehicle.alert" and d["payload"].get("severity") not in (
            "info", "warning", "critical"):
        continue
    docs.append(json.dumps(d))
con.execute("CREATE TABLE raw (doc VARCHAR)")
con.executemany("INSERT INTO raw VALUES (?)", [(d,) for d in docs])
con.execute("""
CREATE TABLE ev AS
SELECT DISTINCT ON (event_id) * FROM (
  SELECT json_extract_string(doc, '$.event_id') AS event_id,
         json_extract_string(doc, '$.event_type') AS event_type,
         CAST(json_extract_string(doc, '$.occurred_at') AS TIMESTAMPTZ) AS occurred_at,
         json_extract_string(doc, '$.vehicle_id') AS vehicle_id,
         json_extract(doc, '$.payload') AS p
  FROM raw)
""")
con.execute("""
CREATE TABLE trips AS
SELECT json_extract_string(p, '$.trip_id') AS trip_id,
       min(vehicle_id) AS vehicle_id,
       min(CAST(json_extract_string(p, '$.distance_km') AS DOUBLE)) AS distance_km,
       CAST(coalesce(min(CASE WHEN event_type = 'trip.started' THEN occurred_at END),
                     min(occurred_at)) AS DATE) AS event_date
FROM ev WHERE event_type IN ('trip.started', 'trip.ended') GROUP BY 1
""")
con.execute("""
CREATE TABLE vehicle_daily AS
WITH parts AS (
  SELECT CAST(occurred_at AS DATE) AS event_date, vehicle_id, 1 AS readings,
         CAST(json_extract_string(p, '$.speed_kmh') AS DOUBLE) AS speed,
         CAST(json_extract_string(p, '$.temperature_c') AS DOUBLE) AS temp,
         CAST(json_extract_string(p, '$.battery_pct') AS DOUBLE) AS battery,
         0 AS trips, 0.0 AS distance_km, 0 AS alerts, 0 AS critical, 0 AS cents
  FROM ev WHERE event_type = 'vehicle.telemetry'
  UNION ALL
  SELECT event_date, vehicle_id, 0, NULL, NULL, NULL, 1, coalesce(distance_km, 0.0), 0, 0, 0
  FROM trips
  UNION ALL
  SELECT CAST(occurred_at AS DATE), vehicle_id, 0, NULL, NULL, NULL, 0, 0.0, 1,
         CASE WHEN json_extract_string(p, '$.severity') = 'critical' THEN 1 ELSE 0 END, 0
  FROM ev WHERE event_type = 'vehicle.alert'
  UNION ALL
  SELECT CAST(occurred_at AS DATE), vehicle_id, 0, NULL, NULL, NULL, 0, 0.0, 0, 0,
         CAST(json_extract_string(p, '$.cost_cents') AS BIGINT)
  FROM ev WHERE event_type = 'maintenance.completed')
SELECT event_date, vehicle_id, sum(readings) AS readings, avg(speed) AS avg_speed_kmh,
       max(temp) AS max_temperature_c, min(battery) AS min_battery_pct, sum(trips) AS trips,
       sum(distance_km) AS distance_km, sum(alerts) AS alerts, sum(critical) AS critical_alerts,
       sum(cents) AS maintenance_cents
FROM parts WHERE vehicle_id IS NOT NULL GROUP BY 1, 2
""")
con.execute("""
CREATE TABLE fleet_daily AS
SELECT event_date, count(*) AS active_vehicles, sum(trips) AS trips,
       sum(distance_km) AS distance_km, sum(critical_alerts) AS critical_alerts
FROM vehicle_daily GROUP BY 1
""")
con.execute("""
CREATE TABLE vehicle_features AS
SELECT d.event_date, d.vehicle_id,
       sum(CASE WHEN h.event_date > d.event_date - 7 THEN h.trips ELSE 0 END) AS trips_7d,
       sum(h.trips) AS trips_28d,
       sum(CASE WHEN h.event_date > d.event_date - 7 THEN h.distance_km ELSE 0 END) AS distance_km_7d,
       sum(h.distance_km) AS distance_km_28d,
       sum(CASE WHEN h.event_date > d.event_date - 7 THEN h.critical_alerts ELSE 0 END) AS critical_alerts_7d,
       sum(h.alerts) AS alerts_28d,
       min(h.min_battery_pct) AS min_battery_pct_28d,
       count(DISTINCT h.event_date) AS active_days_28d
FROM vehicle_daily d JOIN vehicle_daily h
  ON h.vehicle_id = d.vehicle_id AND h.event_date <= d.event_date AND h.event_date > d.event_date - 28
GROUP BY 1, 2
""")


def compare(table, keys, columns):
    con.register("ours", DeltaTable(f"{lake}/gold/{table}").to_pyarrow_table())
    cols = ", ".join(keys + columns)
    # Doubles are compared to 1e-6: sums over the same values in another order differ in the
    # last bits.
    close = " AND ".join(
        f"(a.{c} IS NOT DISTINCT FROM b.{c} OR abs(a.{c} - b.{c}) <= 1e-6 * greatest(1, abs(b.{c})))"
        for c in columns)
    on = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in keys)
    missing = con.execute(f"""
        SELECT count(*) FROM (SELECT {cols} FROM {table}) b
        WHERE NOT EXISTS (SELECT 1 FROM (SELECT {cols} FROM ours) a WHERE {on} AND {close})
    """).fetchone()[0]
    extra = con.execute(f"""
        SELECT count(*) FROM (SELECT {cols} FROM ours) a
        WHERE NOT EXISTS (SELECT 1 FROM (SELECT {cols} FROM {table}) b WHERE {on})
    """).fetchone()[0]
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    sample = con.execute(f"""
        SELECT * FROM (SELECT {cols} FROM {table}) b
        WHERE NOT EXISTS (SELECT 1 FROM (SELECT {cols} FROM ours) a WHERE {on} AND {close})
        LIMIT 3""").fetchall()
    con.unregister("ours")
    return {"rows": rows, "equal": missing == 0 and extra == 0 and rows > 0,
            "missing_or_different": missing, "extra": extra, "sample": [str(s) for s in sample]}


print(json.dumps({
    "vehicle_daily": compare("vehicle_daily", ["event_date", "vehicle_id"],
                             ["readings", "avg_speed_kmh", "max_temperature_c", "min_battery_pct",
                              "trips", "distance_km", "alerts", "critical_alerts",
                              "maintenance_cents"]),
    "fleet_daily": compare("fleet_daily", ["event_date"],
                           ["active_vehicles", "trips", "distance_km", "critical_alerts"]),
    "vehicle_features": compare("vehicle_features", ["event_date", "vehicle_id"],
                                ["trips_7d", "trips_28d", "distance_km_7d", "distance_km_28d",
                                 "critical_alerts_7d", "alerts_28d", "min_battery_pct_28d",
                                 "active_days_28d"]),
}))
