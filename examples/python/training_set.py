"""A point-in-time training set from `strata serve`, loaded into polars.

    python training_set.py http://127.0.0.1:8080

Label rows (player, time, label) are joined with the features known at that time; rows without
features keep nulls.
"""
import json
import sys
import urllib.request

import polars as pl
import pyarrow as pa

url = sys.argv[1]
labels = pl.DataFrame({
    "player_id": [f"player-{i:06d}" for i in range(20)],
    "event_timestamp": ["2099-01-01T00:00:00Z"] * 10 + ["2000-01-01T00:00:00Z"] * 10,
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
print(json.dumps({"rows": train.height, "columns": train.columns}))
