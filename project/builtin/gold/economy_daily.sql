/*
# Per currency and day: volume earned and spent, transactions and distinct players.
grain = ["event_date", "currency"]

[[expect]]
name = "has_rows"
check = { kind = "row_count", min = 1 }
action = "warn"

[[expect]]
name = "volume_non_negative"
check = { kind = "range", column = "earned", min = 0 }
action = "fail"
*/
SELECT event_date, CAST(currency AS VARCHAR) AS currency,
       sum(CASE WHEN direction = 'earn' THEN amount ELSE 0 END) AS earned,
       sum(CASE WHEN direction = 'spend' THEN amount ELSE 0 END) AS spent,
       count(*) AS transactions, count(DISTINCT player_id) AS players
FROM silver.economy_transactions
GROUP BY event_date, currency
