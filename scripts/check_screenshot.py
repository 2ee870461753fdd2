"""How much of a dashboard screenshot is chart: pixels of the series colour (#1f77b4 line and
its translucent fill) and of the lineage edges, for the test suite.

    check_screenshot.py shot.png
"""
import json
import sys

from PIL import Image

img = Image.open(sys.argv[1]).convert("RGB")
w, h = img.size
px = img.load()
series = fill = 0
for y in range(h):
    for x in range(w):
        r, g, b = px[x, y]
        if abs(r - 31) < 25 and abs(g - 119) < 25 and abs(b - 180) < 25:
            series += 1
        elif abs(r - 219) < 12 and abs(g - 231) < 12 and abs(b - 242) < 12:
            fill += 1
print(json.dumps({"width": w, "height": h, "series_pixels": series, "fill_pixels": fill}))
