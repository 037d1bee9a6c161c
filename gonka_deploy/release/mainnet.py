"""Mainnet's chain software upgrades, oldest first: the one list every release profile takes
its part of (``releases/<name>.py``: ``chain_upgrades = _through("v0.2.14")``). Data with
its sources, as in the profiles.

A binary carries the handlers of every earlier upgrade (gonka-ai/gonka@ee730031:
inference-chain/app/upgrades.go registers v0_2_2 ... v0_2_14 in one binary), so a node that
state-syncs needs the newest one at or below its landing height (phase 4 installs it under
cosmovisor before the first start). Earlier plans (v0.2.2 ... v0.2.6) are not listed: no node
joining today lands below them.
"""

from __future__ import annotations

import copy

_G = "https://github.com/gonka-ai/gonka/releases/download/release%2F"


def _zips(tag, inferenced_zip, api_zip, inferenced_bin=None, api_bin=None):
    """Both programs of an upgrade: the zips of release tag `tag` (FACTS: flat zips
    inferenced-amd64.zip and decentralized-api-amd64.zip, gonka-ai/gonka@ee730031:
    inference-chain/Makefile build-for-upgrade) with the plan's checksums, and the extracted
    binaries' sha256 where the docs give them."""
    def one(asset, digest, binary):
        entry = {"url": f"{_G}{tag}/{asset}", "sha256": digest}
        return {**entry, "binary_sha256": binary} if binary else entry
    return {"inferenced": one("inferenced-amd64.zip", inferenced_zip, inferenced_bin),
            "decentralized-api": one("decentralized-api-amd64.zip", api_zip, api_bin)}


MAINNET_UPGRADES = [
    # v0.2.7: proposal #19 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/19/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-01-07).
    {"name": "v0.2.7", "height": 2054000, "binaries": _zips(
        "v0.2.7",
        "b7c9034a2a4e1b2fdd525bd45aa32540129c55176fd7a223a1e13a7e177b3246",
        "03555ba60431e72bd01fe1fb1812a211828331f5767ad78316fdd1bcca0e2d52",
        "09c0e06f7971be87ab00fb08fc10e21ff86f9dff6fc80d82529991aa631cd0a9",
        "d07e97c946ba00194dfabeaf0098219031664dace999416658c57b760b470a74")},
    # v0.2.8: proposal #25 (passed; #24 was rejected). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/25/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-01-28).
    # The zips come from tag release/v0.2.8-post1, so the binaries print v0.2.8-post1:
    # gonka-ai/gonka@ee730031:.github/workflows/publish_upgrade_binaries.yml (VERSION
    # is the tag).
    {"name": "v0.2.8", "height": 2387000, "version": "v0.2.8-post1", "binaries": _zips(
        "v0.2.8-post1",
        "f0f2e3ee8760e40a78087c98c639a7518bf062138141ed4aec2120f5bc622a67",
        "45f28afba4758e54988f61cc358f0ad683e7832ab121ccd54b684fe4c9381a75",
        "308c63c7bda4fb668632ac3e13f3f6cccacf54c563c8e9fd473bcb48c7389fe0",
        "421a761f3a7037d72ee0bd8b3f50a744349f717439c7e0fee28c55948dae9a7c")},
    # v0.2.9: proposal #26 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@c6d21e5a:docs/proposals/proposals/2026-q3/26/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-02-01).
    {"name": "v0.2.9", "height": 2451000, "binaries": _zips(
        "v0.2.9",
        "fc628d77aa516896924fbd8f60b8aa6a14161de4582aaef634de62382ea482eb",
        "ac1ad369052a8c3d01af4d463c49cdd16fcbecc365d201232e7a2d08af8501c0",
        "ae20517e4bb38293202f7f5d52439d5315cb32c8f3c34a02fa65feaefadd6193",
        "52c79f06a8fc175ca6b3819523bb36afbf601d8a8320b1bb5a3cc089ceef62c4")},
    # v0.2.10: proposal #27 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@c6d21e5a:docs/proposals/proposals/2026-q3/27/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-02-17).
    # UNVERIFIED: the extracted binaries' sha256 (the docs give no pre-download block).
    {"name": "v0.2.10", "height": 2712600, "binaries": _zips(
        "v0.2.10",
        "b118610cfa1f45f9dfb4eb112a01a91ad886333b73aac49fee20abc0c3f1998a",
        "47d6b64424f34242ba12d04aa367f3a7d3933961b55f9d2434b36399d0faf18f")},
    # v0.2.11: proposal #31 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q1/31/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-03-19).
    {"name": "v0.2.11", "height": 3186100, "binaries": _zips(
        "v0.2.11",
        "c77528bd2e31e86355a6eefddb50e0db7f9600ebf2940ca440a61ea36e7ef7ca",
        "e574c3d86189daf325cc7008603ee8e952efb028afda5bcd4a154dcd334192d4",
        "6cf186a75782da07156d4d03b4266cefcb36656de89e4a378ae96d8df89ad003",
        "8b99e550ddd117a0cb4293b4ae74e0e5dff961a1986f23b58ec7ae6c3f0478f1")},
    # v0.2.12: proposal #44 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q2/44/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-04-29).
    {"name": "v0.2.12", "height": 3834200, "binaries": _zips(
        "v0.2.12",
        "df7656503d39f6703767d32d5578d1291e32cb114844d8c1cd0f134d1bf4babd",
        "d0143a95e12e1ada06cfea5e4d3deab13534c3523c967e9a6b87ac9f9bf3247d",
        "642eb9858cd77d182f3e1c4d44553f5379d615983430e1fd8e85f09632af4271",
        "94ce943338d12844028e84fe770106c9d28d866cf0af99f27da30f56d69efa34")},
    # v0.2.13: proposal #54 (passed; #52 was rejected). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@39fab478:docs/proposals/proposals/2026-q2/54/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-05-25).
    {"name": "v0.2.13", "height": 4267300, "binaries": _zips(
        "v0.2.13",
        "ea7dea6c4e8d96ed61005bed196768cc9f44e5fb17f0714cb64d1d00a485be0c",
        "cf31fa4d715e721d1e17b7e2b46d628a0b66b6ef603d352d587abe1d57c40925",
        "e52b86c4f64a47f0ea9bdb3327feb321b8a4208a76b35d52a7e9ddd1b9d6eed5",
        "f93d579ef9c46ade9f28c73c339df2f7ae73607115b7efeb849316984924f68d")},
    # v0.2.14: proposal #89 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@7a2fbbce:docs/proposals/proposals/2026-q3/89/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-07-22).
    {"name": "v0.2.14", "height": 5195700, "binaries": _zips(
        "v0.2.14",
        "ce857ef90deb899c03d78dee01493e544bf8b7ddf8b452e75b3b010b80a8b046",
        "4326a27913a05435e37cd5fa9e3d0cf5271351799f8b01b842e049a733976c87",
        "526755f37a0660e9ad9a38f01f99ac87920c7cee12554dc613b274e5e9e3d784",
        "9f41f08d865041c9d1b43e28334528d8d542751af40841f9ddc34d64787e5286")},
    # v0.2.15: proposal #92 (passed). Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@99c39465:docs/proposals/proposals/2026-q3/92/messages.json.
    # Executed; binary sha256: gonka-ai/gonka-docs@570482bc:docs/network-updates.md
    # (2026-07-29).
    {"name": "v0.2.15", "height": 5316315, "binaries": _zips(
        "v0.2.15",
        "91af67df9ef5c576a1695e5e85c8ee344f9f1a69d941bfc28fb339d9fd33617e",
        "c9cf1bfa2c994beca8a528d0ee3ad7197a582144769711600ec9df41faf4c9f7",
        "2da687d5a2511c00891ea29b16face87ef7998f49d5b626d09f810db38deb046",
        "aeddf6391f24f99963c3e9ed854779087700161f520e73fd9e9b52f394f7ba6d")},
    # v0.2.16: proposal #112. Plan (name, height, zip URLs, checksums):
    # Daniil-Zotov/gonkadocs@7252de39:docs/proposals/proposals/2026-q4/112/messages.json.
    # Executed at 6,449,400: gonka-ai/gonka#1949 (cosmovisor switched to the upgrade
    # zip's binary, which prints v0.2.16-post1).
    # UNVERIFIED: the extracted binaries' sha256 (no public source gives them).
    # The zips come from tag release/v0.2.16-post1, so the binaries print v0.2.16-post1:
    # gonka-ai/gonka@ee730031:.github/workflows/publish_upgrade_binaries.yml (VERSION
    # is the tag).
    {"name": "v0.2.16", "height": 6449400, "version": "v0.2.16-post1", "binaries": _zips(
        "v0.2.16-post1",
        "d2ef13374fb15518a02ae5fac83d139d66fb79a8c93d97f4e78b43ce30e14f98",
        "f64b9433cd27d9ee433f1aede89d6be910f6deb8df644d55e2dfe30b8f873802")},
]


def through(name: str) -> list[dict]:
    """The upgrades up to and including ``name`` (a copy: a profile cannot change the list)."""
    names = [u["name"] for u in MAINNET_UPGRADES]
    if name not in names:
        raise ValueError(f"no mainnet upgrade {name!r} (known: {', '.join(names)})")
    return copy.deepcopy(MAINNET_UPGRADES[: names.index(name) + 1])
