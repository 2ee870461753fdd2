"""Look for a value in every file under a lake, referenced by a Delta log or not: the raw bytes
of each file, and for Parquet files also every decoded value (compression and dictionaries hide
values from a byte scan), their statistics and their key-value metadata.

usage: check_erasure.py LAKE_DIR VALUE   prints {"files": N, "parquet_files": N, "hits": [...]}
"""
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

lake, value = sys.argv[1], sys.argv[2]
needle = value.encode()


def values_hit(column):
    """True when any value of the column holds the needle (nested values included)."""
    for v in column.to_pylist():
        if v is None:
            continue
        if isinstance(v, bytes):
            if needle in v:
                return True
        elif value in (v if isinstance(v, str) else json.dumps(v, default=str)):
            return True
    return False


def parquet_hits(path):
    hits = []
    f = pq.ParquetFile(path)
    meta = f.metadata
    for k, v in (meta.metadata or {}).items():
        if needle in k or needle in v:
            hits.append("key-value metadata")
    for rg in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            s = meta.row_group(rg).column(c).statistics
            if s is not None and s.has_min_max and value in f"{s.min!r}{s.max!r}":
                hits.append(f"statistics of {meta.schema.column(c).path}")
    table = f.read()
    for name in table.column_names:
        if values_hit(table.column(name)):
            hits.append(f"values of {name}")
    return hits


files = parquet = 0
hits = []
for root, _, names in os.walk(lake):
    for name in names:
        path = os.path.join(root, name)
        files += 1
        with open(path, "rb") as fh:
            if needle in fh.read():
                hits.append({"file": os.path.relpath(path, lake), "where": "bytes"})
        if name.endswith(".parquet"):
            parquet += 1
            for where in parquet_hits(path):
                hits.append({"file": os.path.relpath(path, lake), "where": where})
print(json.dumps({"files": files, "parquet_files": parquet, "hits": hits}))
