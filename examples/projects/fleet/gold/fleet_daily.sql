/*
# Per day across the fleet: active vehicles, trips, distance and critical alerts.
grain = ["event_date"]
*/
SELECT event_date,
       count(*) AS active_vehicles,
       sum(trips) AS trips,
       round(sum(distance_km), 6) AS distance_km,
       sum(critical_alerts) AS critical_alerts
FROM gold.vehicle_daily
GROUP BY event_date
