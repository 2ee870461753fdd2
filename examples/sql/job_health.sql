-- Recent job runs and their outcome, from the run log.
SELECT job, status, attempts, duration_ms, rows_out, error_domain
FROM _strata.runs
ORDER BY ended_at DESC
LIMIT 20
