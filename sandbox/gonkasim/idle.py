"""idle role: any other known gonka image (versiond, bridge, proxy-ssl): stays up, no ports."""

from __future__ import annotations

import argparse
import sys

from gonkasim import common


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim idle")
    ap.add_argument("--name", default="idle", help="shown in the log line")
    args, _ = ap.parse_known_args(argv)
    common.log("idle", event="started", name=args.name, image=common.image_tag(""))
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
