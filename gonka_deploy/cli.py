"""``gonka-deploy``: operator commands that need no SSH.

    gonka-deploy validate INVENTORY              every problem of every host, exit 1; or a summary
    gonka-deploy render INVENTORY --out DIR [--release NAME] [--with-secrets]
                                                 each host's files as they would be uploaded
                                                 (secrets as placeholders unless asked), and its
                                                 drift (for another release: no file edited)
    gonka-deploy releases [-v]                   the release profiles (and what is unverified)
    gonka-deploy inventory-docs [--check]        regenerate the README's inventory reference
    gonka-deploy prometheus-targets INVENTORY    file_sd targets of every host's Prometheus
    gonka-deploy status INVENTORY [--json] [--limit HOST] [--timeout S]
                                                 every host read over SSH (read-only); exit 1
                                                 when any host is unhealthy
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .validate import format_problems, load_inventory, topology_problems, validate_hosts


def _load(args) -> tuple[list, dict, list]:
    try:
        hosts = load_inventory(args.inventory, limit=args.limit)
    except FileNotFoundError as exc:
        raise SystemExit(f"gonka-deploy: {exc}") from None
    if not hosts:
        raise SystemExit(f"gonka-deploy: no hosts in {args.inventory}"
                         + (f" matching --limit {' '.join(args.limit)}" if args.limit else ""))
    if getattr(args, "release", None):  # review another release: as if group data named it
        hosts = [(name, {**data, "release": args.release}) for name, data in hosts]
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
    from .render import render_host, without_secrets
    from .topology import drift_report, topology

    hosts, configs, problems = _load(args)
    if not problems:
        problems = topology_problems(configs)
    if problems:
        print(format_problems(problems, len(hosts)), file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)  # each host's directory is 0700 below
    for name, config in configs.items():
        # validation refused unsafe names; this is the last line before a path is made of one
        target = out / name
        if target.parent != out or name in ("", ".", "..") or target.is_symlink():
            raise SystemExit(f"gonka-deploy: {name}: refusing to write outside {out}")
        _private_dir(target)
        try:
            rendered_files = (render_host(config) if args.with_secrets
                              else without_secrets(config))
        except ValueError as exc:  # the password still showed: nothing of this host written
            raise SystemExit(f"gonka-deploy: {name}: {exc}") from None
        for rendered in rendered_files.values():
            _write_new(target / rendered.name, rendered.content, rendered.mode)
        topo = topology(config)
        print(f"{name}: {len(rendered_files)} files in {target} (to be uploaded to "
              f"{config.join_dir}); release {config.release} at {topo.files.commit[:12]}")
        for item in drift_report(config):
            print(f"{name}:   drift: {item}")
    if not args.with_secrets:
        print("secrets: a placeholder in place of each keyring password (--with-secrets "
              "writes the real ones)")
    return 0


def _private_dir(path: Path) -> None:
    """``path`` (a host's own directory) 0700, made so or narrowed; never through a link."""
    if path.is_symlink():
        raise SystemExit(f"gonka-deploy: {path} is a symbolic link: refusing to write there")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write_new(path: Path, content: str, mode: int) -> None:
    """Write ``content`` with ``mode`` from the first byte (a secret is never readable by
    others, even briefly), replacing a file there but never following a link planted there."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise SystemExit(f"gonka-deploy: {path} is not a plain file: refusing to write it")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def cmd_releases(args) -> int:
    from .release.profiles import DEFAULT_RELEASE, ReleaseError, known_names, load_profile

    rows, failed = [], []
    for name in known_names():
        try:
            profile = load_profile(name)
        except ReleaseError as exc:
            failed.append(str(exc))
            continue
        rows.append((profile, name == DEFAULT_RELEASE))
    print(f"{'release':16} {'date':10}  {'gonka_ref':12}  {'default':7}  {'unverified':10}  "
          "upstream files")
    for profile, default in rows:
        files = (f"stored ({len(profile.upstream_files)})" if profile.stores_files
                 else "not stored: fetched from gonka_repo_url into the cache")
        print(f"{profile.name:16} {profile.date:10}  {profile.gonka_ref[:12]:12}  "
              f"{'yes' if default else '':7}  {len(profile.unverified):<10}  {files}")
        if args.verbose:
            print(f"  {profile.path}")
            for line in profile.unverified:
                print(f"    UNVERIFIED {line}")
    for message in failed:
        print(f"gonka-deploy: {message}", file=sys.stderr)
    return 1 if failed else 0


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


# status reads no secret: validation wants a keyring password, any value does for it
STATUS_PLACEHOLDER = "status-reads-no-secret-0000"


def cmd_status(args) -> int:
    from .status import fleet_status, table

    try:
        # no gevent: status runs an ssh per host, in threads, and nothing of pyinfra's run
        hosts = load_inventory(args.inventory, limit=args.limit, patch_stdlib=False)
    except FileNotFoundError as exc:
        raise SystemExit(f"gonka-deploy: {exc}") from None
    if not hosts:
        raise SystemExit(f"gonka-deploy: no hosts in {args.inventory}")
    environ = {**os.environ, "GONKA_KEYRING_PASSWORD": STATUS_PLACEHOLDER,
               "GONKA_TELEGRAM_BOT_TOKEN": STATUS_PLACEHOLDER}
    environ = {k: v for k, v in environ.items() if not k.startswith(
        ("GONKA_KEYRING_PASSWORD_", "GONKA_TELEGRAM_BOT_TOKEN_"))}
    configs, problems = validate_hosts(hosts, environ)
    if problems:
        print(format_problems(problems, len(hosts)), file=sys.stderr)
        return 2
    fleet = fleet_status(hosts, configs, timeout=args.timeout)
    if args.json:
        print(fleet.model_dump_json(indent=2))
    else:
        print(table(fleet))
    for host in fleet.hosts:
        if not host.healthy:
            print(f"gonka-deploy: {host.host} unhealthy: {'; '.join(host.problems)}",
                  file=sys.stderr)
    return 0 if fleet.healthy else 1


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
    render.add_argument("--release", help="render for this release profile instead of the one "
                        "group data names (nothing is edited)")
    render.add_argument("--with-secrets", action="store_true",
                        help="write the real keyring password (0600 files in 0700 "
                        "directories); default: a placeholder in its place")
    render.set_defaults(func=cmd_render)

    releases = sub.add_parser("releases", help="list the release profiles")
    releases.add_argument("-v", "--verbose", action="store_true",
                          help="also each profile's path and unverified values")
    releases.set_defaults(func=cmd_releases)

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

    status = sub.add_parser("status", help="every host's state over SSH (read-only); exit 1 "
                            "when any host is unhealthy")
    status.add_argument("inventory")
    status.add_argument("--json", action="store_true", help="the FleetStatus JSON document")
    status.add_argument("--limit", action="append", help="host name or glob (repeatable)")
    status.add_argument("--timeout", type=float, default=30.0,
                        help="seconds a host has to answer (default 30)")
    status.set_defaults(func=cmd_status)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
