-- Agents with the most invocations per day, with latency percentiles and cost.
SELECT event_date, agent_id, invocations, round(success_rate, 3) AS success_rate,
       latency_p50_ms, latency_p95_ms, round(cost_usd, 4) AS cost_usd
FROM gold.agent_daily
ORDER BY event_date DESC, invocations DESC
LIMIT 10
