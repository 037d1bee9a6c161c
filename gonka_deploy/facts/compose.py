"""Facts about a compose project: what compose would run, and what runs now."""

from __future__ import annotations

import json
from typing import TypedDict

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

from ..hostside import source

# Runs inside a service's container: `python3 -c HTTP_PROBE_SCRIPT URL...` (hostside/http_probe.py).
HTTP_PROBE_SCRIPT = source("http_probe.py")

# Runs as `sh -c SCRIPT _ DIR FILE...` in the project dir: enabled services, wanted config
# hashes of every service, then the containers (`docker compose ps -a --format json`, one object
# per line). `config --hash '*'` lists enabled services only; `--profile '*'` adds those of an
# inactive profile (an MLNode retired by the upgrade's cleanup still has a container to remove).
#
# A config hash is the sha256 of the service's config, its environment included (the api's
# KEYRING_PASSWORD): printed as is (fact output at -vvv) it would let anyone who reads the log
# test password guesses offline. So each hash, the wanted ones and the containers' labels, is
# printed keyed: sha256 of a random 256-bit key of this read (never printed, gone when the read
# ends) followed by the hash. Only hashes of one read are compared with each other, so a key
# per read is all the comparison needs.
STATE_SCRIPT = r"""
cd "$1" || { echo nodir; exit 0; }
shift
set -- $(for f in "$@"; do printf -- '-f %s ' "$f"; done)
k=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
[ ${#k} -eq 64 ] || { echo 'no random key for the config hashes' >&2; exit 1; }
mac() { printf '%s%s' "$k" "$1" | sha256sum | cut -d' ' -f1; }
echo '#services'; docker compose "$@" config --services || exit 1
hashes=$(docker compose "$@" --profile '*' config --hash '*') || exit 1
echo '#hashes'
printf '%s\n' "$hashes" | while read -r name hash; do
  [ -n "$name" ] && echo "$name $(mac "$hash")"
done
echo '#ps'
ps=$(docker compose "$@" ps -a --format json); rc=$?
printf '%s\n' "$ps" | while IFS= read -r line; do
  for hash in $(printf '%s\n' "$line" | grep -o 'config-hash=[0-9a-f]*' | cut -d= -f2); do
    line=$(printf '%s\n' "$line" | sed "s/config-hash=$hash/config-hash=$(mac "$hash")/g")
  done
  printf '%s\n' "$line"
done
exit $rc
"""


class ComposeServiceDict(TypedDict):
    wanted_hash: str
    enabled: bool
    state: str | None          # running, exited, ... or None when there is no container
    hash: str | None           # the config hash the container was created with
    image: str | None          # the image reference the container was created from


class ComposeState(FactBase[dict[str, ComposeServiceDict] | None]):
    """
    Returns, per service of a compose project, the config hash compose wants and the state and
    hash of its container, both keyed with a key of this read (comparable with each other
    only). None when the project directory does not exist.

    .. code:: python

        {"prometheus": {"wanted_hash": "9d1…", "enabled": True, "state": "running",
                        "hash": "9d1…", "image": "prom/prometheus:v2.53.2"}}
    """

    @override
    def requires_command(self, directory: str, files: list[str]) -> str:
        return "docker"

    @override
    def command(self, directory: str, files: list[str]) -> StringCommand:
        return StringCommand("sh", "-c", QuoteString(STATE_SCRIPT), "_", QuoteString(directory),
                             *[QuoteString(f) for f in files])

    @override
    def process(self, output: list[str]) -> dict[str, ComposeServiceDict] | None:
        if output and output[0] == "nodir":
            return None
        section, enabled, services = "", set(), {}
        for line in output:
            if line.startswith("#"):
                section = line[1:]
            elif section == "services" and line.strip():
                enabled.add(line.strip())
            elif section == "hashes" and line.strip():
                name, wanted = line.split()
                services[name] = ComposeServiceDict(wanted_hash=wanted, enabled=False,
                                                    state=None, hash=None, image=None)
            elif section == "ps" and line.strip():
                rows = json.loads(line)
                for row in rows if isinstance(rows, list) else [rows]:
                    labels = dict(item.split("=", 1) for item in row.get("Labels", "").split(",")
                                  if "=" in item)
                    entry = services.get(row.get("Service"))
                    if entry is not None:
                        entry["state"] = row.get("State")
                        entry["hash"] = labels.get("com.docker.compose.config-hash")
                        entry["image"] = row.get("Image") or None
        for name in services:
            services[name]["enabled"] = name in enabled
        return services


class ImagePresent(FactBase[bool]):
    """Returns whether the host's docker has ``image`` (pulled earlier or in use)."""

    @override
    def requires_command(self, image: str) -> str:
        return "docker"

    @override
    def command(self, image: str) -> StringCommand:
        return StringCommand("docker", "image", "inspect", "--format", QuoteString("{{.Id}}"),
                             QuoteString(image), ">/dev/null", "2>&1", "&&", "echo", "yes",
                             "||", "echo", "no")

    @override
    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "yes"


class ProbeDict(TypedDict):
    url: str
    status: int          # 0: nothing answered (or the container is not running)
    json: object


def probe_command(directory: str, files: list[str], service: str,
                  urls: list[str]) -> StringCommand:
    """GET ``urls`` from inside ``service``'s container (``compose exec -T``): an MLNode is
    asked directly, before the ML proxy routes to it. A container that does not run answers
    nothing (status 0)."""
    bits = ["cd", QuoteString(directory), "&&", "docker", "compose"]
    for name in files:
        bits += ["-f", QuoteString(name)]
    return StringCommand(*bits, "exec", "-T", QuoteString(service), "python3", "-c",
                         QuoteString(HTTP_PROBE_SCRIPT), *[QuoteString(u) for u in urls],
                         "2>/dev/null", "||", "true")


def parse_probe(output: list[str]) -> dict[str, ProbeDict]:
    """url -> its answer; a url without a line did not answer (the container does not run)."""
    found: dict[str, ProbeDict] = {}
    for line in output:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("url"), str):
            found[doc["url"]] = ProbeDict(url=doc["url"], status=int(doc.get("status") or 0),
                                          json=doc.get("json"))
    return found


def answer(found: dict[str, ProbeDict], url: str) -> ProbeDict:
    return found.get(url) or ProbeDict(url=url, status=0, json=None)


class ServiceHttp(FactBase[dict[str, ProbeDict]]):
    """
    Returns what each of ``urls`` answers from inside ``service``'s container, by url (use
    :func:`answer`: a url the container did not answer has status 0).

    .. code:: python

        {"http://127.0.0.1:8080/health": {"url": "http://127.0.0.1:8080/health",
                                          "status": 200, "json": {"status": "healthy"}}}
    """

    @override
    def requires_command(self, directory: str, files: list[str], service: str,
                         urls: list[str]) -> str:
        return "docker"

    @override
    def command(self, directory: str, files: list[str], service: str,
                urls: list[str]) -> StringCommand:
        return probe_command(directory, files, service, urls)

    @override
    def process(self, output: list[str]) -> dict[str, ProbeDict]:
        return parse_probe(output)
