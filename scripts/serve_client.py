"""Ordinary clients of `strata serve`, for the test suite.

    serve_client.py pg HOST PORT USER PASSWORD        # psycopg: prepared statements
    serve_client.py training URL TOKEN PLAYER...      # training set read with pyarrow + polars
"""
import json
import sys
import urllib.request


def pg(host, port, user, password):
    import psycopg

    with psycopg.connect(host=host, port=int(port), user=user, password=password, dbname="strata") as conn:
        with conn.cursor() as cur:
            out = []
            # Server-side prepared statement, executed twice with different parameters.
            for threshold in (0, 1):
                cur.execute(
                    "SELECT count(*) FROM gold.player_features WHERE sessions_28d >= %s",
                    (threshold,),
                    prepare=True,
                )
                out.append(cur.fetchone()[0])
            cur.execute("SELECT player_id, sessions_28d FROM gold.player_features ORDER BY player_id LIMIT %s", (3,))
            rows = cur.fetchall()
    print(json.dumps({"counts": out, "rows": [[r[0], r[1]] for r in rows]}))


def training(url, token, *players):
    import polars as pl
    import pyarrow as pa

    rows = [{"player_id": p, "event_timestamp": "2099-01-01T00:00:00Z"} for p in players]
    rows += [{"player_id": p, "event_timestamp": "2000-01-01T00:00:00Z"} for p in players]
    body = json.dumps({"features": ["player_features:sessions_28d", "player_features:playtime_s_28d"],
                       "entity_rows": rows, "format": "arrow"}).encode()
    req = urllib.request.Request(url + "/training-set", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as resp:
        table = pa.ipc.open_stream(resp.read()).read_all()
    df = pl.from_arrow(table)
    print(json.dumps({"rows": df.height, "columns": df.columns,
                      "non_null_sessions": int(df["sessions_28d"].is_not_null().sum())}))


if __name__ == "__main__":
    {"pg": pg, "training": training}[sys.argv[1]](*sys.argv[2:])
