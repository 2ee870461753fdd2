-- What producers send that Strata refuses, by reason.
SELECT error_kind, count(*) AS records, min(ingest_date) AS first_seen
FROM bronze.quarantine
GROUP BY error_kind
ORDER BY records DESC
