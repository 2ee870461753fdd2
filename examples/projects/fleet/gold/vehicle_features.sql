/*
# Per vehicle and active day, over the 7 and 28 days ending that day; known at the day's end.
grain = ["event_date", "vehicle_id"]
lookback_days = 27
*/
SELECT d.event_date, d.vehicle_id,
       CAST(d.event_date + INTERVAL '1 day' AS TIMESTAMP) AS feature_ts,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.trips ELSE 0 END) AS trips_7d,
       sum(h.trips) AS trips_28d,
       round(sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.distance_km ELSE 0.0 END), 6) AS distance_km_7d,
       round(sum(h.distance_km), 6) AS distance_km_28d,
       sum(CASE WHEN h.event_date > d.event_date - INTERVAL '7 days' THEN h.critical_alerts ELSE 0 END) AS critical_alerts_7d,
       sum(h.alerts) AS alerts_28d,
       min(h.min_battery_pct) AS min_battery_pct_28d,
       count(DISTINCT h.event_date) AS active_days_28d
FROM gold.vehicle_daily d
JOIN gold.vehicle_daily h
  ON h.vehicle_id = d.vehicle_id AND h.event_date <= d.event_date
 AND h.event_date > d.event_date - INTERVAL '28 days'
GROUP BY d.event_date, d.vehicle_id
