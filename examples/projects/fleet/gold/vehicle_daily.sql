/*
# Per vehicle and day: readings, speed, temperature and battery, trips and distance, alerts
# and maintenance spend.
grain = ["event_date", "vehicle_id"]

[[expect]]
name = "one_row_per_vehicle_day"
check = { kind = "sql", expr = "count(*) OVER (PARTITION BY event_date, vehicle_id) = 1" }
action = "fail"
*/
WITH parts AS (
  SELECT event_date, vehicle_id, 1 AS readings, speed_kmh, temperature_c, battery_pct,
         0 AS trips, 0.0 AS distance_km, 0 AS alerts, 0 AS critical_alerts, 0 AS maintenance_cents
  FROM silver.telemetry
  UNION ALL
  SELECT event_date, vehicle_id, 0, NULL, NULL, NULL, 1, coalesce(distance_km, 0.0), 0, 0, 0
  FROM silver.trips
  UNION ALL
  SELECT event_date, vehicle_id, 0, NULL, NULL, NULL, 0, 0.0, 1,
         CASE WHEN severity = 'critical' THEN 1 ELSE 0 END, 0
  FROM silver.alerts
  UNION ALL
  SELECT event_date, vehicle_id, 0, NULL, NULL, NULL, 0, 0.0, 0, 0, cost_cents
  FROM silver.maintenance)
SELECT event_date, CAST(vehicle_id AS VARCHAR) AS vehicle_id,
       sum(readings) AS readings,
       round(avg(speed_kmh), 6) AS avg_speed_kmh,
       max(temperature_c) AS max_temperature_c,
       min(battery_pct) AS min_battery_pct,
       sum(trips) AS trips,
       round(sum(distance_km), 6) AS distance_km,
       sum(alerts) AS alerts,
       sum(critical_alerts) AS critical_alerts,
       sum(maintenance_cents) AS maintenance_cents
FROM parts WHERE vehicle_id IS NOT NULL
GROUP BY event_date, vehicle_id
