"""A point-in-time training set from `strata serve`, loaded into polars.

    python training_set.py http://127.0.0.1:8080

Label rows (player, time, label) are joined with the features known at that time and still
within the view's TTL; rows without such features keep nulls. Daily features are stamped at the
end of their day, so half the labels are a day from now (today's features are known by then),
half in the year 2000, before any event: those get nulls.
"""
import json
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import polars as pl
import pyarrow as pa

url = sys.argv[1]
labels = pl.DataFrame({
    "player_id": [f"player-{i:06d}" for i in range(20)],
    "event_timestamp": [(datetime.now(timezone.utc) + timedelta(days=1)).isoformat()] * 10
    + ["2000-01-01T00:00:00Z"] * 10,
    "churned": [i % 2 for i in range(20)],
})
body = json.dumps({
    "features": ["player_features:sessions_7d", "player_features:playtime_s_28d",
                 "player_features:credits_spent_28d"],
    "entity_rows": labels.to_dicts(),
    "format": "arrow",
}).encode()
req = urllib.request.Request(url + "/training-set", data=body, headers={"Content-Type": "application/json"})
table = pa.ipc.open_stream(urllib.request.urlopen(req).read()).read_all()
train = pl.from_arrow(table)
assert train.height == labels.height, "every label row is kept"
sessions = next(c for c in train.columns if c.endswith("sessions_7d"))
known = train.filter(pl.col(sessions).is_not_null())
print(json.dumps({"rows": train.height, "columns": train.columns,
                  "rows_with_features": known.height,
                  "rows_with_features_in_2000": known.filter(
                      pl.col("event_timestamp").cast(pl.Utf8).str.starts_with("2000")).height}))
