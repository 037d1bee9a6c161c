"""Drift: what the pinned repo's files do that the release profile does not account for.

Reported per host by ``gonka-deploy render`` and before the first command of a host in a
deploy (``--dry`` included). Each item is one line; no item, no output:

- a service of the release's compose that the profile has no image for (the compose's runs);
- an image the profile names for a service the compose does not define;
- a service whose image in the repo's compose differs from the one the profile runs;
- a config.env.template variable left at the template's value that the profile has not
  reviewed (``template_defaults``), and a placeholder (``<FILLIN>``) written empty;
- a port the release publishes on every interface that the toolkit binds to 127.0.0.1, other
  than the ones the operator docs say must never be public;
- files of the host's clone that differ from the copies render used (the profile's stored ones
  or the cache's; sha256), and a profile that stores none (its files came from the repo cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from .compose import Port

# "26657, 9100, 9200, 5050, 8080 must not be public" (gonka-ai/gonka-docs@570482bc:docs/host/
# quickstart.md, "Network access, proxy, and ports"); 5050 is the inference proxy's port 5000.
INTERNAL = {"node:26657/tcp", "api:9100/tcp", "api:9200/tcp", "inference:8080/tcp",
            "inference:5000/tcp"}


@dataclass(frozen=True)
class Inputs:
    release: str
    commit: str
    stores_files: bool
    files_source: str
    compose_images: dict[str, str | None]  # service -> image in the release's merged compose
    images: dict[str, str]                 # service -> image the host runs (profile + data)
    profile_images: dict[str, str]         # service -> image the profile names
    defaults: dict[str, str]               # template variables kept at the template's value
    placeholders: dict[str, str]           # template placeholders written empty
    reviewed: list[str]                    # the profile's template_defaults
    closed: list[Port]                     # published publicly by the release, bound to loopback
    stored_sums: dict[str, str]            # repo path -> sha256 of the copies render used
    clone_sums: dict[str, str] | None      # repo path -> sha256 on the host (None: not read)


def report(i: Inputs) -> list[str]:
    out = []
    if not i.stores_files:
        out.append(f"files: release {i.release} stores no upstream files for {i.commit[:12]}; "
                   f"deploy/join comes from {i.files_source}")
    for service, image in sorted(i.compose_images.items()):
        if service not in i.images:
            out.append(f"image: service {service} has no image in the profile; the compose's "
                       f"{image or '(none)'} runs")
        elif image and service in i.profile_images and image != i.profile_images[service]:
            out.append(f"image: service {service}: the repo's compose pins {image}, the "
                       f"profile {i.profile_images[service]}")
    for service in sorted(set(i.profile_images) - set(i.compose_images)):
        out.append(f"image: the profile names service {service}, which the release's compose "
                   f"does not define")
    for name, value in i.defaults.items():
        if name not in i.reviewed:
            out.append(f"config.env: {name} left at the template's default {value!r}")
    for name, value in i.placeholders.items():
        if name not in i.reviewed:
            out.append(f"config.env: {name}: the template's placeholder {value!r} is written "
                       f"empty")
    for port in i.closed:
        if f"{port.service}:{port.target}/{port.protocol}" not in INTERNAL:
            listed = port.published + ("" if port.protocol == "tcp" else f"/{port.protocol}")
            out.append(f"port: {port.label} is published by the release on every interface; "
                       f"bound to 127.0.0.1 (list {listed!r} in public_ports to open it)")
    if i.clone_sums is not None:
        for rel, digest in sorted(i.stored_sums.items()):
            found = i.clone_sums.get(rel)
            if found is None:
                out.append(f"files: {rel} is missing from the host's clone")
            elif found != digest:
                out.append(f"files: {rel} on the host has sha256 {found[:12]}…, the release's "
                           f"copy {digest[:12]}…")
    return out
