"""What analysts' tools do against the SQL endpoint, for the test suite.

    bi_clients.py HOST PORT

Prints one JSON object: SQLAlchemy 2 (psycopg 3) connecting, inspecting schemas, tables and
columns, pandas read_sql / read_sql_table, psycopg binary results, and a psycopg named
(server-side) cursor.
"""
import json
import sys


def main(host, port):
    import pandas as pd
    import psycopg
    import sqlalchemy as sa

    url = f"postgresql+psycopg://analyst@{host}:{port}/strata"
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        out["server_version"] = list(engine.dialect.server_version_info or [])
        insp = sa.inspect(conn)
        out["schemas"] = sorted(insp.get_schema_names())
        out["gold_tables"] = sorted(insp.get_table_names(schema="gold"))
        out["columns"] = [
            {"name": c["name"], "type": str(c["type"])} for c in insp.get_columns("agent_daily", schema="gold")
        ]
        df = pd.read_sql(sa.text("SELECT count(*) AS n FROM gold.agent_daily"), conn)
        out["read_sql_count"] = int(df["n"][0])
    df = pd.read_sql_table("agent_daily", engine, schema="gold")
    out["read_sql_table_rows"] = len(df)
    out["read_sql_table_columns"] = list(df.columns)

    with psycopg.connect(host=host, port=int(port), user="analyst", dbname="strata") as conn:
        # Binary results decode to the same values as text ones (dates, ints, floats, text).
        q = "SELECT event_date, agent_id, invocations, success_rate FROM gold.agent_daily WHERE invocations > %s ORDER BY agent_id, event_date"
        out["binary_equals_text"] = (
            conn.cursor(binary=True).execute(q, (0,)).fetchall() == conn.execute(q, (0,)).fetchall()
        )
        with conn.cursor(name="big_read") as cur:
            cur.itersize = 50
            cur.execute("SELECT event_id, valid FROM bronze.events ORDER BY event_id")
            first = cur.fetchmany(10)
            rest = cur.fetchall()
            out["named_cursor_rows"] = len(first) + len(rest)
            out["named_cursor_first"] = [list(r) for r in first[:2]]
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
