"""GET URLs from inside a container (``python3 -c SCRIPT URL...``): one JSON line per URL,
``{"url", "status", "json"}`` (status 0 when nothing answered, json null when the body is not
JSON).

It runs where curl may not exist but python3 does (the MLNode image is a Python service), to
ask an MLNode directly, before the ML proxy routes anything to it.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

TIMEOUT = 3.0


def get(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError):
        return {"url": url, "status": 0, "json": None}
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    return {"url": url, "status": status, "json": doc}


def main(urls: list[str]) -> int:
    for url in urls:
        print(json.dumps(get(url)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
