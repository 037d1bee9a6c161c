"""``gonka-deploy``: operator commands that need no SSH.

    gonka-deploy validate INVENTORY              every problem of every host, exit 1; or a summary
    gonka-deploy render INVENTORY --out DIR      each host's files as they would be uploaded
    gonka-deploy inventory-docs [--check]        regenerate the README's inventory reference
    gonka-deploy prometheus-targets INVENTORY    file_sd targets of every host's Prometheus
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .validate import format_problems, load_inventory, validate_hosts


def _load(args) -> tuple[list, dict, list]:
    try:
        hosts = load_inventory(args.inventory, limit=args.limit)
    except FileNotFoundError as exc:
        raise SystemExit(f"gonka-deploy: {exc}") from None
    if not hosts:
        raise SystemExit(f"gonka-deploy: no hosts in {args.inventory}"
                         + (f" matching --limit {' '.join(args.limit)}" if args.limit else ""))
    configs, problems = validate_hosts(hosts)
    return hosts, configs, problems


def cmd_validate(args) -> int:
    hosts, configs, problems = _load(args)
    if problems:
        print(format_problems(problems, len(hosts)), file=sys.stderr)
        return 1
    releases = sorted({c.release for c in configs.values()})
    nodes = sum(len(c.mlnodes) for c in configs.values())
    print(f"ok: {len(configs)} host(s), {nodes} ML node(s), release {', '.join(releases)}")
    return 0


def cmd_render(args) -> int:
    from .render import render_host

    hosts, configs, problems = _load(args)
    if problems:
        print(format_problems(problems, len(hosts)), file=sys.stderr)
        return 1
    out = Path(args.out)
    for name, config in configs.items():
        target = out / name
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for rendered in render_host(config).values():
            path = target / rendered.name
            # Create with the final mode so a secret is never readable by others, even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, rendered.mode)
            os.fchmod(fd, rendered.mode)
            with os.fdopen(fd, "w") as handle:
                handle.write(rendered.content)
        print(f"{name}: {len(render_host(config))} files in {target} "
              f"(to be uploaded to {config.join_dir})")
    return 0


def cmd_inventory_docs(args) -> int:
    from .docs import update_readme

    readme = Path(args.readme)
    fresh = update_readme(readme, check=args.check)
    if args.check and not fresh:
        print(f"{readme}: inventory reference is stale; run `make inventory-docs`",
              file=sys.stderr)
        return 1
    print(f"{readme}: inventory reference " + ("up to date" if fresh else "regenerated"))
    return 0


def cmd_prometheus_targets(args) -> int:
    from .render import fleet_targets
    from .state import identity

    hosts, configs, problems = _load(args)
    if problems:
        print(format_problems(problems, len(hosts)), file=sys.stderr)
        return 1
    data = dict(hosts)
    entries = [(config, identity(config.key_name).node_id,
                data[name].get("ssh_hostname") or config.public_host)
               for name, config in configs.items()]
    text = fleet_targets(entries)
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"{args.out}: {len(entries)} target(s)")
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gonka-deploy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="validate every host of an inventory")
    validate.add_argument("inventory")
    validate.add_argument("--limit", action="append", help="host name or glob (repeatable)")
    validate.set_defaults(func=cmd_validate)

    render = sub.add_parser("render", help="write each host's rendered files to DIR/<host>/")
    render.add_argument("inventory")
    render.add_argument("--out", required=True)
    render.add_argument("--limit", action="append", help="host name or glob (repeatable)")
    render.set_defaults(func=cmd_render)

    docs = sub.add_parser("inventory-docs", help="regenerate the README inventory reference")
    docs.add_argument("--readme", default="README.md")
    docs.add_argument("--check", action="store_true", help="exit 1 when the README is stale")
    docs.set_defaults(func=cmd_inventory_docs)

    targets = sub.add_parser("prometheus-targets",
                             help="file_sd scrape targets (each host's Prometheus, /federate)")
    targets.add_argument("inventory")
    targets.add_argument("--out", help="write to FILE instead of stdout")
    targets.add_argument("--limit", action="append", help="host name or glob (repeatable)")
    targets.set_defaults(func=cmd_prometheus_targets)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
