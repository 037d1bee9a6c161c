"""Before the first command of a host: the release it runs and its drift, printed (``--dry``
too). Silent when there is no drift."""

from __future__ import annotations

from pyinfra import host, logger

from gonka_deploy.facts.release import CloneFiles
from gonka_deploy.pyinfra_hooks import host_topology
from gonka_deploy.schema import HostConfig
from gonka_deploy.topology import checked_files, drift_report


def release_check(config: HostConfig) -> list[str]:
    """Print the host's drift; the clone's files are compared once it is at the pinned commit
    (a clone that phase 2 is about to move is compared on the next run). A release that cannot
    give the host a topology stops the run here, before any command."""
    topo = host_topology(config)
    clone = host.get_fact(CloneFiles, path=config.gonka_path, files=sorted(checked_files(config)))
    sums = clone["sha256"] if clone and clone["head"] == topo.files.commit else None
    items = drift_report(config, sums)
    if items:
        logger.warning(f"{host.print_prefix}release {config.release} "
                       f"({topo.files.commit[:12]}): {len(items)} drift item(s)")
        for item in items:
            logger.warning(f"{host.print_prefix}  drift: {item}")
    return items
