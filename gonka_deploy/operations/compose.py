"""docker compose: `up` only when a service is missing, stopped or defined differently.

pyinfra's own ``docker.compose`` always runs ``up -d`` (it is declared non-idempotent); this one
reads what compose wants (config hashes) and what runs, and yields nothing when they match.
"""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.compose import ComposeState, ImagePresent
from ..hostside import source
from .util import operation, refuse

# Missing images are pulled by this program first (present ones never: the registry may be
# unreachable), so a failed pull names the image and why; see hostside/pull.py.
PULL_SCRIPT = source("pull.py")


def compose_command(files: list[str], *args) -> StringCommand:
    bits = ["docker", "compose"]
    for name in files:
        bits += ["-f", QuoteString(name)]
    return StringCommand(*bits, *args)


@operation()
def up(directory: str, files: list[str], services: list[str] | None = None,
       no_deps: bool = False):
    """
    Bring compose services up; no change when every one runs with its current definition.

    + directory: the project directory (commands run there, so ``.env`` applies)
    + files: compose files, in ``-f`` order
    + services: services to bring up (default: every enabled service)
    + no_deps: do not start linked services (``--no-deps``)

    **Example:**

    .. code:: python

        compose.up(directory="/mnt/ssd/monitoring", files=["docker-compose.yml"])
    """
    project = host.get_fact(ComposeState, directory=directory, files=files)
    if project is None:
        if state.is_executing:
            yield from refuse(f"{directory} does not exist")
            return
        project = {}
    names = services or [n for n, s in project.items() if s["enabled"]]
    unknown = [n for n in names if project and n not in project]
    if unknown and state.is_executing:
        # In a preview an earlier operation may still be due to define them.
        yield from refuse(f"no such service(s) in {directory}: {', '.join(unknown)}")
        return
    todo = []
    for name in names or ["(all)"]:
        entry = project.get(name)
        if entry is None:
            todo.append(f"{name}: create")
        elif entry["state"] is None:
            todo.append(f"{name}: create")
        elif entry["hash"] != entry["wanted_hash"]:
            todo.append(f"{name}: recreate (definition changed)")
        elif entry["state"] != "running":
            todo.append(f"{name}: start (was {entry['state']})")
    if not todo:
        host.noop(f"{', '.join(names)} running as defined")
        return
    verb = "" if state.is_executing else "would "
    logger.info(f"{host.print_prefix}{verb}compose up in {directory}: " + "; ".join(todo))
    args = ["up", "-d"] + (["--no-deps"] if no_deps else [])
    names_args = [QuoteString(n) for n in services or []]
    file_args = [bit for name in files for bit in ("-f", QuoteString(name))]
    yield StringCommand("cd", QuoteString(directory), "&&", "python3", "-c",
                        QuoteString(PULL_SCRIPT), "--compose", *file_args,
                        *(["--no-deps"] if no_deps else []), *names_args, "&&",
                        compose_command(files, *args, *names_args))


@operation()
def pulled(directory: str, files: list[str], service: str, image: str):
    """
    Pull a service's image ahead of time (MLNode images are 10 GB+); no change when present.
    Transient registry errors are retried with bounded backoff; a permanent one (unknown
    manifest, denied) or an unreachable registry fails the host naming the image.

    + directory: the project directory
    + files: compose files, in ``-f`` order
    + service: the service whose image is pulled
    + image: its image reference (checked with ``docker image inspect``)

    **Example:**

    .. code:: python

        compose.pulled(directory=join, files=files, service="mlnode-309",
                       image="ghcr.io/gonka-ai/mlnode:3.0.14")
    """
    if host.get_fact(ImagePresent, image=image):
        host.noop(f"{image} is present")
        return
    verb = "pulling" if state.is_executing else "would pull"
    logger.info(f"{host.print_prefix}{verb} {image} for {service} (10 GB+ takes minutes)")
    yield StringCommand("python3", "-c", QuoteString(PULL_SCRIPT), QuoteString(image))


@operation()
def removed(directory: str, files: list[str], services: list[str]):
    """
    Stop and remove the containers of services (``rm -s -f``); no change when none exists.

    + directory: the project directory
    + files: compose files, in ``-f`` order
    + services: services whose containers go

    **Example:**

    .. code:: python

        compose.removed(directory=join, files=files, services=["mlnode-308"])
    """
    project = host.get_fact(ComposeState, directory=directory, files=files) or {}
    present = [n for n in services if (project.get(n) or {}).get("state")]
    if not present:
        host.noop(f"no container of {', '.join(services)}")
        return
    verb = "" if state.is_executing else "would "
    logger.info(f"{host.print_prefix}{verb}stop and remove {', '.join(present)}")
    yield StringCommand("cd", QuoteString(directory), "&&",
                        compose_command(files, "rm", "-s", "-f",
                                        *[QuoteString(n) for n in present]))


@operation(is_idempotent=False)
def restart(directory: str, files: list[str], services: list[str]):
    """
    Restart services (use with ``_if=`` on the change of an input compose cannot see, such as
    the content of a bind-mounted config file).

    + directory: the project directory
    + files: compose files, in ``-f`` order
    + services: services to restart

    **Example:**

    .. code:: python

        compose.restart(directory=d, files=f, services=["prometheus"], _if=cfg.did_change)
    """
    yield StringCommand("cd", QuoteString(directory), "&&",
                        compose_command(files, "restart", *[QuoteString(n) for n in services]))

