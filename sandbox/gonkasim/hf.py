"""A local Hugging Face endpoint (HF_ENDPOINT) for huggingface_hub 2.4.0, stdlib only.

    python3 -m gonkasim hf --listen 127.0.0.1:0 --data DIR [--size BYTES] [--bandwidth BPS]

Serves one generated repo, testorg/tiny-model, at a commit that depends only on --size (so it is
the same on every run). On start it prints `MODEL testorg/tiny-model COMMIT <sha> SIZE <bytes>`,
then the usual `listening` JSON line, then one JSON line per request.

Routes (see ../shared/notes/HF-ENDPOINT.md): `/api/models/{repo}/tree/{rev}[/{sub}]`,
`/api/models/{repo}[/revision/{rev}]` (siblings, with sizes under `?blobs=true`), HEAD/GET
`/{repo}/resolve/{rev}/{path}` with X-Repo-Commit, ETag/X-Linked-Etag, exact Content-Length and
Range (206), `/api/agent-harnesses`. Errors carry X-Error-Code. Xet is never advertised: the
client would fail without a Xet server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import threading
import time
from urllib.parse import unquote

from gonkasim import common

ROLE = "hf"
REPO = "testorg/tiny-model"
DEFAULT_SIZE = 8 * 1024 * 1024
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def commit_for(size: int = DEFAULT_SIZE) -> str:
    """The pinned commit of the generated repo: a function of --size only."""
    return hashlib.sha1(f"{REPO}@weights={size}".encode()).hexdigest()


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def safetensors_bytes(total: int, seed: int) -> bytes:
    """A valid safetensors file of exactly `total` bytes: one U8 tensor of seeded random data."""
    def header(n: int) -> bytes:
        meta = {"__metadata__": {"format": "pt"},
                "w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}
        h = json.dumps(meta, separators=(",", ":")).encode()
        return h + b" " * (-len(h) % 8)

    n = max(total - 8 - len(header(total)), 1)
    h = header(n)
    h += b" " * max(total - 8 - len(h) - n, 0)  # pad the header so the file is exactly `total`
    return len(h).to_bytes(8, "little") + h + random.Random(seed).randbytes(n)


def shard_count(size: int) -> int:
    return 2 if size <= 64 * 1024 * 1024 else 4


def repo_files(size: int) -> dict[str, bytes]:
    shards = shard_count(size)
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    files = {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
        "config.json": json.dumps({
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 8,
            "n_layer": 1, "n_head": 1, "vocab_size": 4, "n_positions": 16}, indent=2).encode(),
        "generation_config.json": b'{"max_new_tokens": 16}\n',
        "tokenizer.json": json.dumps({
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": None, "decoder": None,
            "model": {"type": "WordLevel", "unk_token": "[UNK]",
                      "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "!": 3}}}).encode(),
        "tokenizer_config.json": b'{"tokenizer_class": "PreTrainedTokenizerFast"}\n',
        "model.safetensors.index.json": json.dumps(
            {"metadata": {"total_size": size}, "weight_map": {"w": names[0]}}).encode(),
        "original/params.json": b'{"dim": 8, "n_layers": 1}\n',
    }
    per = size // shards
    for i, name in enumerate(names):
        files[name] = safetensors_bytes(per + (size - per * shards if i == shards - 1 else 0), i)
    return files


def build_repo(data_dir: str, size: int) -> dict:
    """Generate the repo under data_dir once; return path -> {size, oid, sha256?, lfs, disk}."""
    root = os.path.join(data_dir, f"{REPO.replace('/', '--')}-{size}")
    manifest = os.path.join(root, "manifest.json")
    entries = common.read_json(manifest)
    if entries:
        return entries
    entries = {}
    for path, data in repo_files(size).items():
        disk = os.path.join(root, "files", path)
        common.atomic_write(disk, data)
        e = {"size": len(data), "disk": disk, "lfs": path.endswith(LFS_SUFFIXES)}
        if e["lfs"]:
            e["sha256"] = hashlib.sha256(data).hexdigest()
            pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{e['sha256']}\n"
                       f"size {len(data)}\n")
            e["oid"], e["pointer_size"] = git_blob_oid(pointer.encode()), len(pointer)
        else:
            e["oid"] = git_blob_oid(data)
        entries[path] = e
    common.write_json(manifest, entries)
    return entries


class Throttle:
    """One shared link: all responses together move at most `rate` bytes/s."""

    def __init__(self, rate: int):
        self.rate = rate
        self.lock = threading.Lock()
        self.next_free = 0.0

    def take(self, n: int) -> None:
        if not self.rate:
            return
        with self.lock:
            start = max(time.monotonic(), self.next_free)
            self.next_free = start + n / self.rate
            until = self.next_free
        delay = until - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the link, not waiting for an event


class HFHandler(common.Handler):
    role = ROLE
    files: dict = {}
    sha = ""
    throttle = Throttle(0)

    def route(self, method, path, query):
        parts = [unquote(p) for p in path.split("/")[1:]]
        if method not in ("GET", "HEAD"):
            return self.reply(405, {"error": "method not allowed"})
        if parts[:2] == ["api", "agent-harnesses"]:
            return self.reply(200, {"standardEnvVars": [], "harnesses": {}})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo, rest = "/".join(parts[2:4]), parts[4:]
            if repo != REPO:
                return self.error(404, "RepoNotFound", "Repository not found")
            if not rest or rest[0] == "revision":
                rev = rest[1] if len(rest) > 1 else "main"
                return self.model_info(rev, query.get("blobs") == "true")
            if rest[0] == "tree" and len(rest) >= 2:
                return self.tree(rest[1], "/".join(rest[2:]), query.get("recursive") == "true")
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        return self.error(404, "NotFound", "Not found")

    def error(self, status, code, message, extra=None):
        self.reply(status, {"error": message},
                   headers={"X-Error-Code": code, "X-Error-Message": message, **(extra or {})})

    def commit(self, rev):
        return self.sha if rev in ("main", self.sha) else None

    def model_info(self, rev, blobs):
        sha = self.commit(rev)
        if sha is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        siblings = []
        for path, e in sorted(self.files.items()):
            s = {"rfilename": path}
            if blobs:
                s.update(size=e["size"], blobId=e["oid"])
                if e["lfs"]:
                    s["lfs"] = {"sha256": e["sha256"], "size": e["size"],
                                "pointerSize": e["pointer_size"]}
            siblings.append(s)
        self.reply(200, {
            "_id": "0" * 24, "id": REPO, "modelId": REPO, "author": REPO.split("/")[0],
            "sha": sha, "lastModified": "2026-01-01T00:00:00.000Z", "private": False,
            "gated": False, "disabled": False, "tags": [], "library_name": "transformers",
            "usedStorage": sum(e["size"] for e in self.files.values()), "siblings": siblings})

    def tree(self, rev, base, recursive):
        sha = self.commit(rev)
        if sha is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        prefix = base + "/" if base else ""
        out, dirs = [], set()
        for path, e in sorted(self.files.items()):
            if not path.startswith(prefix):
                continue
            segs = path[len(prefix):].split("/")
            for i in range(1, len(segs) if recursive else min(len(segs), 2)):
                dirs.add(prefix + "/".join(segs[:i]))
            if len(segs) > 1 and not recursive:
                continue
            item = {"type": "file", "oid": e["oid"], "size": e["size"], "path": path}
            if e["lfs"]:
                item["lfs"] = {"oid": e["sha256"], "size": e["size"],
                               "pointerSize": e["pointer_size"]}
            out.append(item)
        out += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0,
                 "path": d} for d in sorted(dirs)]
        if base and not out:
            return self.error(404, "EntryNotFound", f"{base} does not exist")
        self.reply(200, out)

    def resolve(self, repo, rev, path):
        if repo != REPO:
            return self.error(404, "RepoNotFound", "Repository not found")
        sha = self.commit(rev)
        if sha is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        e = self.files.get(path)
        if e is None:
            return self.error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
        size = e["size"]
        # The Hub names LFS blobs by sha256 and the others by git blob oid; the etag is the name.
        etag = e.get("sha256") or e["oid"]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream",
                   "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'}
        if e["lfs"]:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": size})
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes="):
            a, _, b = rng[6:].split(",")[0].strip().partition("-")
            start = int(a) if a else max(size - int(b), 0)
            end = min(int(b), size - 1) if a and b else size - 1
            if start >= size or start > end:
                headers.update({"Content-Range": f"bytes */{size}"})
                return self.reply(416, b"", headers=headers)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            status = 206
        length = end - start + 1
        self.send_response(status)
        for k, v in {**headers, "Content-Length": length}.items():
            self.send_header(k, str(v))
        self.end_headers()
        self._status = status
        sent = 0
        if self.command == "GET":
            sent = self.send_range(e["disk"], start, length)
        common.log(ROLE, method=self.command, path=self.path, status=status, bytes=sent,
                   range=rng or None)

    def send_range(self, disk, start, length):
        chunk = 64 * 1024 if self.throttle.rate else 1 << 20
        sent = 0
        try:
            with open(disk, "rb") as f:
                while sent < length:
                    n = min(chunk, length - sent)
                    self.throttle.take(n)
                    n = self.connection.sendfile(f, start + sent, n)
                    if n == 0:
                        break
                    sent += n
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-body
            self.close_connection = True
        return sent


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gonkasim hf", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_listen_args(ap)
    ap.add_argument("--data", default="/tmp/gonkasim-hf", help="where the repo is generated")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help="bytes of weights")
    ap.add_argument("--bandwidth", type=int, default=0, help="bytes/s for all responses")
    args = ap.parse_args(argv)
    addrs = common.listen_addrs(args, {"http": 18080}, "http")
    files = build_repo(args.data, args.size)
    HFHandler.files, HFHandler.sha = files, commit_for(args.size)
    HFHandler.throttle = Throttle(args.bandwidth)
    total = sum(e["size"] for e in files.values())
    print(f"MODEL {REPO} COMMIT {HFHandler.sha} SIZE {total}", flush=True)
    common.serve(ROLE, "http", addrs["http"], HFHandler)
    return common.run_forever()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
