"""`docker` / `docker compose` command line of the sandbox (the /usr/local/bin/docker shim)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import yaml

from . import engine, images
from .compose import ComposeError, Project, load_project
from .engine import Container, EngineError

DOCKER_VERSION = "27.3.1"
COMPOSE_VERSION = "v2.29.7"


class Usage(Exception):
    pass


def log_invocation(argv: list[str]) -> None:
    """One JSON line per call (argv and cwd; never stdin)."""
    logdir = Path(os.environ.get("GONKASIM_LOG_DIR") or "/var/log/gonkasim")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        with open(logdir / "docker.log", "a") as f:
            f.write(json.dumps({"ts": time.time(), "argv": ["docker", *argv],
                                "cwd": os.getcwd()}) + "\n")
    except OSError:
        pass


def out(line: str = "") -> None:
    print(line, flush=True)


def err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- formatting


def _ago(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s} seconds" if s != 1 else "1 second"
    if s < 3600:
        return f"{s // 60} minutes" if s >= 120 else "About a minute"
    return f"{s // 3600} hours" if s >= 7200 else "About an hour"


def status_of(c: Container) -> tuple[str, str]:
    now = time.time()
    if c.running:
        return "running", "Up " + _ago(now - c.data.get("started", now))
    if "pid" not in c.data:
        return "created", "Created"
    try:
        ended = (c.dir / "exitcode").stat().st_mtime
    except FileNotFoundError:
        ended = c.data.get("started", now)
    return "exited", f"Exited ({c.exit_code}) {_ago(now - ended)} ago"


def publishers(c: Container) -> list[dict]:
    return [{"URL": p["host_ip"] or "0.0.0.0", "TargetPort": p["target"],
             "PublishedPort": int(p["published"] or 0), "Protocol": p["protocol"]}
            for p in c.data.get("ports", [])]


def ports_text(c: Container, running: bool) -> str:
    if not running:
        return ""
    return ", ".join(f"{p['host_ip'] or '0.0.0.0'}:{p['published']}->{p['target']}/"
                     f"{p['protocol']}" if p["published"] else f"{p['target']}/{p['protocol']}"
                     for p in c.data.get("ports", []))


def ps_record(c: Container) -> dict:
    state, status = status_of(c)
    created = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC",
                            time.gmtime(c.data.get("created", 0)))
    return {
        "Command": json.dumps(" ".join(c.data.get("command") or [])),
        "CreatedAt": created,
        "ExitCode": 0 if state == "running" else c.exit_code,
        "Health": "",
        "ID": hashlib.sha256(c.name.encode()).hexdigest()[:12],
        "Image": c.data.get("image", ""),
        "Labels": f"com.docker.compose.config-hash={c.data.get('hash', '')},"
                  f"com.docker.compose.project={c.project},"
                  f"com.docker.compose.service={c.data.get('service')}",
        "LocalVolumes": "0",
        "Mounts": "",
        "Name": c.name,
        "Names": c.name,
        "Networks": f"{c.project}_default",
        "Ports": ports_text(c, state == "running"),
        "Project": c.project,
        "Publishers": publishers(c),
        "RunningFor": _ago(time.time() - c.data.get("created", time.time())) + " ago",
        "Service": c.data.get("service", ""),
        "Size": "0B",
        "State": state,
        "Status": status,
    }


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        out("   ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- docker (top level)


def cmd_image_inspect(args: list[str]) -> int:
    """`docker image inspect [--format F] REF...`: known once pulled or run."""
    refs = [a for i, a in enumerate(args) if not a.startswith("-")
            and not (i and args[i - 1] in ("--format", "-f"))]
    found, rc = [], 0
    for ref in refs:
        if engine.image_known(ref):
            found.append({"Id": "sha256:" + hashlib.sha256(ref.encode()).hexdigest(),
                          "RepoTags": [ref]})
        else:
            err(f"Error response from daemon: No such image: {ref}")
            rc = 1
    if "--format" in args or "-f" in args:
        for doc in found:
            out(doc["Id"])
    else:
        out(json.dumps(found, indent=4))
    return rc


def cmd_version() -> int:
    out("Client:\n Version:           " + DOCKER_VERSION + "\n API version:       1.47\n"
        " OS/Arch:           linux/amd64\n\nServer: Docker Engine - Community (dockersim)\n"
        " Engine:\n  Version:          " + DOCKER_VERSION)
    return 0


def cmd_info() -> int:
    running = sum(1 for c in engine.all_containers() if c.running)
    runtimes = "io.containerd.runc.v2 runc"
    out(f"Client:\n Context:    default\n\nServer:\n Containers: {len(engine.all_containers())}\n"
        f"  Running: {running}\n Server Version: {DOCKER_VERSION}\n Storage Driver: overlay2\n"
        f" Runtimes: {runtimes}\n Default Runtime: runc\n Docker Root Dir: {engine.root()}")
    return 0


def cmd_ps(args: list[str]) -> int:
    fmt = _opt(args, "--format")
    show_all = "-a" in args or "--all" in args
    rows = [c for c in engine.all_containers() if show_all or c.running]
    if fmt == "json":
        for c in rows:
            rec = ps_record(c)
            rec.pop("Publishers")
            rec.pop("Service")
            rec.pop("Project")
            rec.pop("Name")
            rec.pop("ExitCode")
            rec.pop("Health")
            out(json.dumps(rec))
        return 0
    recs = [ps_record(c) for c in rows]
    table([[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"],
            r["Name"]] for r in recs],
          ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"])
    return 0


def _opt(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# ---------------------------------------------------------------- compose


def parse_compose_globals(args: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {"files": [], "profiles": []}
    i = 0
    while i < len(args):
        a = args[i]
        val = args[i + 1] if i + 1 < len(args) else None
        key, _, inline = a.partition("=")
        if key in ("-f", "--file", "-p", "--project-name", "--project-directory", "--env-file",
                   "--profile", "--ansi", "--progress", "--parallel") or (
                key.startswith("--") and inline and key in ("--file",)):
            v = inline if inline else val
            if v is None:
                raise Usage(f"flag needs an argument: {key}")
            i += 1 if inline else 2
            if key in ("-f", "--file"):
                opts["files"].append(v)
            elif key in ("-p", "--project-name"):
                opts["project_name"] = v
            elif key == "--project-directory":
                opts["project_dir"] = v
            elif key == "--env-file":
                opts["env_file"] = v
            elif key == "--profile":
                opts["profiles"].append(v)
            continue
        if a in ("--compatibility", "--dry-run"):
            i += 1
            continue
        break
    return opts, args[i:]


def compose_main(args: list[str]) -> int:
    opts, rest = parse_compose_globals(args)
    if not rest:
        raise Usage("docker compose: missing command")
    sub, sargs = rest[0], rest[1:]
    if sub == "version":
        if "--short" in sargs:
            out(COMPOSE_VERSION.lstrip("v"))
        else:
            out(f"Docker Compose version {COMPOSE_VERSION}")
        return 0
    project = load_project(opts["files"], opts.get("project_name"), opts.get("project_dir"),
                           opts.get("env_file"), opts["profiles"])
    handler = COMPOSE_COMMANDS.get(sub)
    if handler is None:
        raise Usage(f"unknown docker command: \"compose {sub}\"")
    with engine.locked():
        return handler(project, sargs)


def _split_flags(args: list[str], with_value: set[str],
                 interspersed: bool = True) -> tuple[dict, list[str]]:
    """Flags and positionals, like cobra: flags may follow service names (`up tmkms node -d`)
    except for run/exec, where everything after the service is the command."""
    flags: dict = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1 :])
            break
        if a.startswith("-") and len(a) > 1 and (interspersed or not pos):
            key, eq, inline = a.partition("=")
            if key in with_value:
                val = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
                flags.setdefault(key, []).append(val)
                i += 1 if eq else 2
                continue
            # short flag bundles like -it / -dT
            if not key.startswith("--") and len(key) > 2:
                for ch in key[1:]:
                    flags[f"-{ch}"] = True
            else:
                flags[key] = True
            i += 1
            continue
        pos.append(a)
        i += 1
    return flags, pos


def _services_or_all(project: Project, names: list[str]) -> list[str]:
    for n in names:
        if n not in project.services:
            raise ComposeError(f"no such service: {n}")
    return names or project.enabled()


def c_up(project: Project, args: list[str]) -> int:
    flags, names = _split_flags(args, {"--pull", "--scale", "-t", "--timeout", "--wait-timeout"})
    with_deps = "--no-deps" not in flags
    force = "--force-recreate" in flags
    no_recreate = "--no-recreate" in flags
    wanted = project.ordered(_services_or_all(project, names), with_deps=with_deps)
    services = project.services
    for name in wanted:  # fail before touching anything, like compose's pull step
        if images.resolve(services[name].image) is None:
            err(f" {name} Error {images.pull_denied(services[name].image)}")
            err(images.pull_denied(services[name].image))
            return 1
    if "--remove-orphans" in flags:
        for c in engine.project_containers(project.name):
            if c.data.get("service") not in services:
                out(f" Container {c.name}  Stopping")
                engine.remove(c)
                out(f" Container {c.name}  Removed")
    plan: list[tuple[str, str]] = []  # (service, action)
    for name in wanted:
        svc = services[name]
        c = engine.Container(project.name, svc.container_name)
        if not c.exists:
            plan.append((name, "create"))
        elif (c.data.get("hash") != svc.config_hash() or force) and not no_recreate:
            plan.append((name, "recreate"))
        elif not c.running:
            plan.append((name, "start"))
        else:
            plan.append((name, "keep"))
    # addresses for every new container first, so /etc/hosts names them all before any start
    taken: set[int] = set()
    for name, action in plan:
        svc = services[name]
        if action == "create":
            idx = engine.alloc_idx(taken)
            taken.add(idx)
            engine.create(svc, idx)
            out(f" Container {svc.container_name}  Created")
        elif action == "recreate":
            old = engine.Container(project.name, svc.container_name)
            out(f" Container {svc.container_name}  Recreate")
            idx = old.data.get("idx") or engine.alloc_idx(taken)
            engine.stop(old)
            engine.create(svc, idx)
            out(f" Container {svc.container_name}  Recreated")
    engine.write_hosts()
    for name, action in plan:
        svc = services[name]
        c = engine.Container(project.name, svc.container_name)
        if action == "keep":
            out(f" Container {svc.container_name}  Running")
            continue
        out(f" Container {svc.container_name}  Starting")
        try:
            engine.start(c, svc)
        except EngineError as exc:
            err(str(exc))
            return 1
        out(f" Container {svc.container_name}  Started")
    return 0


def _targets(project: Project, names: list[str]) -> list[Container]:
    for n in names:
        if n not in project.services:
            raise ComposeError(f"no such service: {n}")
    cs = engine.project_containers(project.name)
    return [c for c in cs if not names or c.data.get("service") in names]


def _stop_order(project: Project, cs: list[Container]) -> list[Container]:
    """Dependents before their dependencies (reverse depends_on order); orphans first."""
    known = [n for n in project.ordered(list(project.services)) if n in project.services]
    rank = {n: i for i, n in enumerate(known)}
    return sorted(cs, key=lambda c: -rank.get(c.data.get("service"), len(rank)))


def c_down(project: Project, args: list[str]) -> int:
    flags, _ = _split_flags(args, {"-t", "--timeout", "--rmi"})
    for c in _stop_order(project, engine.project_containers(project.name)):
        out(f" Container {c.name}  Stopping")
        engine.remove(c)
        out(f" Container {c.name}  Removed")
    if "-v" in flags or "--volumes" in flags:
        for vol in (engine.root() / "volumes").glob(f"{project.name}_*"):
            import shutil

            shutil.rmtree(vol, ignore_errors=True)
            out(f" Volume {vol.name}  Removed")
    engine.write_hosts()
    engine.maybe_remove_bridge()
    return 0


def c_stop(project: Project, args: list[str]) -> int:
    _, names = _split_flags(args, {"-t", "--timeout"})
    for c in _stop_order(project, _targets(project, names)):
        out(f" Container {c.name}  Stopping")
        engine.stop(c)
        out(f" Container {c.name}  Stopped")
    return 0


def c_restart(project: Project, args: list[str]) -> int:
    _, names = _split_flags(args, {"-t", "--timeout"})
    services = project.services
    for c in _targets(project, names):
        svc = services.get(c.data.get("service"))
        if svc is None:
            continue
        out(f" Container {c.name}  Restarting")
        engine.stop(c)
        try:
            engine.start(c, svc)
        except EngineError as exc:
            err(str(exc))
            return 1
        out(f" Container {c.name}  Started")
    return 0


def c_rm(project: Project, args: list[str]) -> int:
    flags, names = _split_flags(args, set())
    gone = [c for c in _targets(project, names) if not c.running or "-s" in flags]
    if not gone:
        out("No stopped containers")
    for c in gone:
        engine.remove(c)
        out(f" Container {c.name}  Removed")
    engine.write_hosts()
    return 0


def c_ps(project: Project, args: list[str]) -> int:
    flags, names = _split_flags(args, {"--format", "--filter", "--status"})
    cs = _targets(project, names)
    if "-a" not in flags and "--all" not in flags:
        cs = [c for c in cs if c.running]
    fmt = (flags.get("--format") or ["table"])[-1]
    if "-q" in flags or "--quiet" in flags:
        for c in cs:
            out(ps_record(c)["ID"])
        return 0
    if "--services" in flags:
        for c in cs:
            out(c.data.get("service", ""))
        return 0
    if fmt == "json":
        for c in cs:
            out(json.dumps(ps_record(c)))
        return 0
    rows = []
    for c in cs:
        r = ps_record(c)
        rows.append([c.name, r["Image"], r["Command"], r["Service"], r["RunningFor"], r["Status"],
                     r["Ports"]])
    table(rows, ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"])
    return 0


def c_pull(project: Project, args: list[str]) -> int:
    _, names = _split_flags(args, {"--policy"})
    services = project.services
    rc = 0
    for name in _services_or_all(project, names):
        ref = services[name].image
        if images.resolve(ref) is None:
            err(f" {name} Error {images.pull_denied(ref)}")
            rc = 1
            continue
        out(f" {name} Pulling")
        engine.record_image(ref)
        out(f" {name} Pulled")
    if rc:
        err(images.pull_denied(ref))
    return rc


def _env_flags(flags: dict) -> dict[str, str]:
    env = {}
    for item in flags.get("-e", []) + flags.get("--env", []):
        key, sep, val = item.partition("=")
        if sep:
            env[key] = val
        elif key in os.environ:
            env[key] = os.environ[key]
    return env


def c_run(project: Project, args: list[str]) -> int:
    flags, pos = _split_flags(args, {"-e", "--env", "--name", "-w", "--workdir", "--entrypoint",
                                     "-u", "--user", "-v", "--volume", "-p", "--publish"},
                             interspersed=False)
    if not pos:
        raise Usage('"docker compose run" requires at least 1 argument.')
    name, cmd = pos[0], pos[1:]
    services = project.services
    if name not in services:
        raise ComposeError(f"no such service: {name}")
    if "--no-deps" not in flags:
        deps = [d for d in project.ordered([name]) if d != name]
        if deps:
            rc = c_up(project, ["--no-deps", *deps])
            if rc:
                return rc
    try:
        return engine.run_once(services[name], cmd, _env_flags(flags))
    except EngineError as exc:
        err(str(exc))
        return 1


def c_exec(project: Project, args: list[str]) -> int:
    flags, pos = _split_flags(args, {"-e", "--env", "-w", "--workdir", "-u", "--user",
                                     "--index"}, interspersed=False)
    if len(pos) < 2:
        raise Usage('"docker compose exec" requires at least 2 arguments.')
    name, cmd = pos[0], pos[1:]
    svc = project.services.get(name)
    if svc is None:
        raise ComposeError(f"no such service: {name}")
    c = engine.Container(project.name, svc.container_name)
    if not c.exists or not c.running:
        err(f'service "{name}" is not running')
        return 1
    workdir = (flags.get("-w") or flags.get("--workdir") or [None])[-1]
    return engine.exec_in(c, cmd, _env_flags(flags), workdir)


def c_logs(project: Project, args: list[str]) -> int:
    flags, names = _split_flags(args, {"--tail", "-n", "--since", "--until"})
    tail = (flags.get("--tail") or flags.get("-n") or ["all"])[-1]
    cs = _targets(project, names)
    width = max((len(c.name) for c in cs), default=0)
    for c in cs:
        try:
            lines = c.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        if tail != "all":
            lines = lines[-int(tail):] if int(tail) else []
        prefix = "" if "--no-log-prefix" in flags else f"{c.name.ljust(width)}  | "
        for line in lines:
            out(prefix + line)
    return 0


def c_config(project: Project, args: list[str]) -> int:
    flags, _ = _split_flags(args, {"--format", "--hash", "-o", "--output"})
    if "--hash" in flags:
        wanted = flags["--hash"][-1]
        services = project.services
        names = list(services) if wanted == "*" else wanted.split(",")
        for n in names:
            if n not in services:
                raise ComposeError(f"no such service: {n}")
            out(f"{n} {services[n].config_hash()}")
        return 0
    if "--services" in flags:
        for n in project.enabled():
            out(n)
        return 0
    if "-q" in flags or "--quiet" in flags:
        return 0
    model = project.normalized()
    fmt = (flags.get("--format") or ["yaml"])[-1]
    text = (json.dumps(model, indent=2) + "\n" if fmt == "json"
            else yaml.safe_dump(model, sort_keys=False, default_flow_style=False))
    target = (flags.get("-o") or flags.get("--output") or [None])[-1]
    if target:
        Path(target).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def c_images(project: Project, args: list[str]) -> int:
    for name, svc in project.services.items():
        out(f"{svc.container_name}  {svc.image}  {name}")
    return 0


COMPOSE_COMMANDS = {
    "up": c_up, "down": c_down, "ps": c_ps, "pull": c_pull, "run": c_run, "exec": c_exec,
    "logs": c_logs, "config": c_config, "restart": c_restart, "stop": c_stop, "rm": c_rm,
    "start": lambda p, a: c_up(p, ["--no-recreate", *a]), "images": c_images,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log_invocation(argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            out("Usage:  docker [OPTIONS] COMMAND")
            return 0 if argv else 1
        cmd, rest = argv[0], argv[1:]
        if cmd in ("version", "--version", "-v"):
            if cmd != "version":
                out(f"Docker version {DOCKER_VERSION}, build dockersim")
                return 0
            return cmd_version()
        if cmd == "info":
            return cmd_info()
        if cmd == "ps":
            return cmd_ps(rest)
        if cmd == "compose":
            return compose_main(rest)
        if cmd == "image" and rest[:1] == ["inspect"]:
            return cmd_image_inspect(rest[1:])
        raise Usage(f"docker: unknown command: docker {cmd}")
    except ComposeError as exc:
        err(str(exc))
        return 1
    except EngineError as exc:
        err(str(exc))
        return 1
    except Usage as exc:
        err(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
