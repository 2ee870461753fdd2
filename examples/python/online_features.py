"""Feast-shaped online lookup against `strata serve`, standard library only.

    python online_features.py http://127.0.0.1:8080 player-000001 player-000002
"""
import json
import sys
import urllib.request

url, players = sys.argv[1], sys.argv[2:]
body = {"features": ["player_features:sessions_7d", "player_features:credits_earned_28d"],
        "entities": {"player_id": players}}
req = urllib.request.Request(url + "/get-online-features", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
resp = json.load(urllib.request.urlopen(req))
names = resp["metadata"]["feature_names"]
for i, player in enumerate(players):
    row = {n: r["values"][i] for n, r in zip(names, resp["results"])}
    row["status"] = resp["results"][1]["statuses"][i]
    print(json.dumps(row))
