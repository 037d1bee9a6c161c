"""The ML proxy's nginx.conf: tested inside the running container before it is used.

The release bind-mounts ``./nginx.conf`` as a single file. A bind mount of a file pins its inode,
so the file is rewritten in place (not replaced by a rename) once the container runs.
"""

from __future__ import annotations

from pyinfra import host, logger, state
from pyinfra.api import QuoteString, StringCommand

from ..facts.compose import ComposeState
from ..facts.files import ManagedFile
from .util import log_diff, operation, upload_text

# Runs as `sh -c SCRIPT _ DIR SERVICE FILE...` in the compose project, the new config on stdin.
# The running nginx reads its config only on reload: a config that fails `nginx -t` is put back
# to the previous text before anything reloads, so it never reaches the running proxy.
UPDATE_SCRIPT = r"""
set -u
cd "$1" || exit 1
service="$2"; shift 2
set -- $(for f in "$@"; do printf -- '-f %s ' "$f"; done)
cp -p nginx.conf nginx.conf.gonka-deploy.previous
cat > nginx.conf
if docker compose "$@" exec -T "$service" nginx -t; then
  docker compose "$@" exec -T "$service" nginx -s reload
else
  cat nginx.conf.gonka-deploy.previous > nginx.conf
  echo "nginx -t rejected the new nginx.conf: put the previous one back; the running proxy" \
       "keeps its configuration" >&2
  exit 1
fi
"""


@operation()
def config(directory: str, files: list[str], content: str, service: str = "inference",
           create_only: bool = False):
    """
    Keep ``nginx.conf`` of the ML proxy: test a new one in the running container, then reload.

    + directory: the compose project directory holding nginx.conf
    + files: compose files, in ``-f`` order
    + content: the wanted nginx.conf
    + service: the nginx service
    + create_only: only write the file when it does not exist (before the first ``up``)

    When the proxy does not run, the file is written atomically and used at its next start.

    **Example:**

    .. code:: python

        nginx.config(directory=join, files=files, content=render_nginx(config))
    """
    path = f"{directory}/nginx.conf"
    current = host.get_fact(ManagedFile, path=path)
    if current is not None and (create_only or current["content"] == content):
        host.noop(f"{path} is up to date" if not create_only else f"{path} exists")
        return
    project = host.get_fact(ComposeState, directory=directory, files=files) or {}
    running = (project.get(service) or {}).get("state") == "running"
    if current is None or not running:
        yield from upload_text(path, content, mode=0o644,
                               old=current["content"] if current else None)
        return
    log_diff(path, current["content"], content)
    verb = "" if state.is_executing else "would "
    logger.info(f"{host.print_prefix}{verb}test it with nginx -t in {service}, then reload")
    yield StringCommand("sh", "-c", QuoteString(UPDATE_SCRIPT), "_", QuoteString(directory),
                        QuoteString(service), *[QuoteString(f) for f in files], _stdin=content)
