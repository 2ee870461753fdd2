"""Read bronze.events with Python deltalake and polars; print counts and stored offsets as JSON.

usage: read_bronze.py TABLE_PATH [APP_ID ...]
"""
import json
import sys

import polars as pl
from deltalake import DeltaTable

path, app_ids = sys.argv[1], sys.argv[2:]
dt = DeltaTable(path)
arrow = dt.to_pyarrow_table()
df = pl.read_delta(path)
print(json.dumps({
    "deltalake_rows": arrow.num_rows,
    "polars_rows": df.height,
    "polars_valid": int(df.filter(pl.col("valid")).height),
    # The Kafka offsets stored as Delta txn actions, as any Delta reader sees them.
    "txn": {a: dt.transaction_version(a) for a in app_ids},
    "version": dt.version(),
}))
