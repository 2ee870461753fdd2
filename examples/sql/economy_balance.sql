-- Credits minted vs sunk per day: an economy drifting inflationary shows earned >> spent.
SELECT event_date, currency, earned, spent, earned - spent AS net
FROM gold.economy_daily
ORDER BY event_date, currency
