"""The whole refinement done by DuckDB, from the same Bronze Parquet and the same project files:
each Silver table extracted from the valid events' JSON (its declared columns and paths,
deduplicated by event_id with the first Kafka position winning, or stitched per key with
the smallest value per column), then every Gold model's own SQL file, each table written as
Parquet. Expectations are not checked. Timed from the first query to the last file written.

usage: bench_refine_duckdb.py PROJECT_DIR LAKE_DIR OUT_DIR
prints {"seconds", "cpu_s", "peak_rss_mib", "rows": {table: n}, "threads"} as JSON
"""
import json
import os
import resource
import sys
import time
import tomllib

import duckdb
from deltalake import DeltaTable

project, lake, out = sys.argv[1:4]
con = duckdb.connect()
con.execute("CREATE SCHEMA silver; CREATE SCHEMA gold")

ENVELOPE_STR = ["event_id", "event_type", "source", "tenant_id"]


def typed(kind, expr):
    """A JSON string value as the column's type; NULL when the type cannot hold it."""
    return {
        "string": expr,
        "int": f"TRY_CAST(TRY_CAST({expr} AS DOUBLE) AS BIGINT)",
        "float": f"TRY_CAST({expr} AS DOUBLE)",
        "bool": f"TRY_CAST({expr} AS BOOLEAN)",
    }[kind]


def columns(decl):
    """(name, kind, JSON path) of the envelope and the declared columns."""
    cols = [(c, "string", f"$.{c}") for c in ENVELOPE_STR]
    cols += [("schema_version", "int", "$.schema_version"), ("occurred_at", "ts", "$.occurred_at")]
    for name, spec in decl.get("columns", {}).items():
        if isinstance(spec, str):
            cols.append((name, spec, f"$.payload.{name}"))
        else:
            cols.append((name, spec["type"], f"$.{spec['path']}"))
    return cols


def silver_sql(decl, files):
    cols = columns(decl)
    types = ", ".join(f"'{t}'" for t in decl["events"])
    paths = ", ".join(f"'{p}'" for _, _, p in cols)
    select = []
    for i, (name, kind, _) in enumerate(cols, start=1):
        v = f"v[{i}]"
        if kind == "ts":
            select.append(f"CAST(CAST({v} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) AS \"{name}\"")
        else:
            select.append(f"{typed(kind, v)} AS \"{name}\"")
    decoded = f"""
      SELECT {", ".join(select)}, topic AS bronze_topic, "partition" AS bronze_partition,
             "offset" AS bronze_offset
      FROM (SELECT json_extract_string(decode(value), [{paths}]) AS v, topic, "partition", "offset"
            FROM read_parquet([{files}]) WHERE valid AND event_type IN ({types}))"""
    stitch = decl.get("stitch")
    if stitch is None:
        return f"""
      SELECT *, CAST(occurred_at AS DATE) AS event_date FROM ({decoded})
      QUALIFY row_number() OVER (PARTITION BY event_id
                                 ORDER BY bronze_topic, bronze_partition, bronze_offset) = 1"""
    key = stitch["key"]
    out_cols, date = [f'"{key}"'], None
    for name, spec in stitch["columns"].items():
        if isinstance(spec, str):
            value = f'min("{spec}")'
        else:
            value = f"min(CASE WHEN event_type = '{spec['event']}' THEN \"{spec['column']}\" END)"
        out_cols.append(f'{value} AS "{name}"')
        if name == stitch["date"]:
            date = value
    day = f"coalesce({date}, min(occurred_at))" if date else "min(occurred_at)"
    return f"""
      SELECT {", ".join(out_cols)}, CAST({day} AS DATE) AS event_date
      FROM ({decoded}) WHERE "{key}" IS NOT NULL GROUP BY "{key}" """


bronze = DeltaTable(os.path.join(lake, "bronze", "events"))
files = ", ".join(f"'{f.replace('file://', '')}'" for f in bronze.file_uris())
silver = {}
for name in sorted(os.listdir(os.path.join(project, "silver"))):
    if name.endswith(".toml"):
        with open(os.path.join(project, "silver", name), "rb") as f:
            silver[name[:-5]] = tomllib.load(f)
gold = {}
for name in sorted(os.listdir(os.path.join(project, "gold"))):
    if name.endswith(".sql"):
        with open(os.path.join(project, "gold", name)) as f:
            gold[name[:-4]] = f.read()

rows = {}
os.makedirs(out, exist_ok=True)
t0 = time.perf_counter()
for name, decl in silver.items():
    con.execute(f"CREATE TABLE silver.{name} AS {silver_sql(decl, files)}")
    rows[f"silver.{name}"] = con.execute(f"SELECT count(*) FROM silver.{name}").fetchone()[0]
# Models in dependency order: one that reads a model not built yet waits for the next round.
pending = dict(gold)
while pending:
    built = []
    for name, sql in pending.items():
        if any(f"gold.{other}" in sql for other in pending if other != name):
            continue
        con.execute(f"CREATE TABLE gold.{name} AS {sql}")
        rows[f"gold.{name}"] = con.execute(f"SELECT count(*) FROM gold.{name}").fetchone()[0]
        built.append(name)
    if not built:
        sys.exit(f"gold models read each other in a cycle: {sorted(pending)}")
    for name in built:
        del pending[name]
for table in rows:
    con.execute(f"COPY {table} TO '{os.path.join(out, table)}.parquet' (FORMAT PARQUET)")
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "seconds": seconds,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "peak_rss_mib": usage.ru_maxrss / 1024,
    "rows": rows,
    "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
}))
