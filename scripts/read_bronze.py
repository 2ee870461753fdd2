"""Read bronze.events with Python deltalake and polars; print row counts as JSON."""
import json
import sys

import polars as pl
from deltalake import DeltaTable

path = sys.argv[1]
dt = DeltaTable(path)
arrow = dt.to_pyarrow_table()
df = pl.read_delta(path)
# The txn actions holding offsets, as any Delta reader sees them.
txns = dt.transaction_versions() if hasattr(dt, "transaction_versions") else {}
print(json.dumps({
    "deltalake_rows": arrow.num_rows,
    "polars_rows": df.height,
    "polars_valid": int(df.filter(pl.col("valid")).height),
    "deltalake_txn_app_ids": len(txns),
    "version": dt.version(),
}))
