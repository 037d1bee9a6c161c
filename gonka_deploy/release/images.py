"""Image references and the order of MLNode tags.

MLNode tags seen upstream (shared/notes/RELEASES.md §2): 3.0.13, 3.0.14, 3.0.14-cu129,
3.0.14-post2, 3.0.16, 3.0.16-cu129, 3.0.17, 3.1.0-vllm-0.28.0, 3.0.12-post6-blackwell. A tag is a
release ``X.Y.Z``, an optional ``-postN`` (a later build of the same release) and optional build
labels (``cu129``, ``blackwell``, ``vllm-0.28.0``) that name a variant of that build, not a newer
one. So ``3.0.14 < 3.0.14-post2 < 3.0.16 == 3.0.16-cu129 < 3.1.0-vllm-0.28.0``.
"""

from __future__ import annotations

import re
from functools import total_ordering

IMAGE_RE = re.compile(
    r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
TAG_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-post(\d+))?(?:-([A-Za-z0-9_.-]+))?$")


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """``repo/name:tag@sha256:…`` -> (``repo/name``, tag or None, digest or None)."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: len(name) - len(tag) - 1]
    return name, tag, digest or None


def image_tag(ref: str) -> str | None:
    return split_image(ref)[1]


@total_ordering
class MLNodeTag:
    """A parsed MLNode tag; compares by release and post number, labels aside."""

    def __init__(self, tag: str):
        match = TAG_RE.match(tag)
        if not match:
            raise ValueError(f"{tag!r} is not an MLNode tag like 3.0.16 or 3.0.14-post2")
        major, minor, patch, post, label = match.groups()
        self.tag = tag
        self.key = (int(major), int(minor), int(patch), int(post or 0))
        self.label = label

    @classmethod
    def of_image(cls, ref: str) -> MLNodeTag:
        tag = image_tag(ref)
        if tag is None:
            raise ValueError(f"{ref!r} has no tag")
        return cls(tag)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MLNodeTag) and self.key == other.key

    def __lt__(self, other: MLNodeTag) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"MLNodeTag({self.tag!r})"


def comparable(ref: str) -> bool:
    """Whether ``ref``'s tag can be ordered (``latest`` or a custom build cannot)."""
    try:
        MLNodeTag.of_image(ref)
    except ValueError:
        return False
    return True


def newest(refs: list[str]) -> str:
    """The image with the highest tag; on equal tags the first one given wins."""
    best = refs[0]
    for ref in refs[1:]:
        if MLNodeTag.of_image(ref) > MLNodeTag.of_image(best):
            best = ref
    return best


def slug(ref: str) -> str:
    """A compose-service-name suffix for an image: its tag, dots and the like as ``-``."""
    tag = image_tag(ref) or "latest"
    return re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")


def choose_image(default: str, explicit: str | None, minimums: list[str]) -> str:
    """The MLNode image an ML node runs: its own ``explicit`` one, else the newest of the
    release's ``default`` and its models' ``minimums`` (the default wins a tie). A default whose
    tag cannot be ordered (``latest``, a custom build) is the operator's choice and is kept."""
    if explicit:
        return explicit
    if not minimums or not comparable(default):
        return default
    return newest([default, *minimums])
