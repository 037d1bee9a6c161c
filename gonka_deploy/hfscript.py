"""Host-side Hugging Face helper, run as ``python3 -c SCRIPT status|start ...`` (stdlib only).

Kept as a constant so facts and operations send it inline: it works on a host before anything of
ours is installed there, and no secret ever travels in it.

``status REPO SHA`` prints one JSON line: is the pinned snapshot complete (file list and sizes of
the commit against the cache, no content read), bytes present (partial blobs included), and
whether a detached download is running. The file list comes from the cache's
``trees/<sha>.json`` (written by huggingface_hub >= 2.4 when a download starts), else from a copy
we keep, else from the endpoint.

``start REPO SHA HF_BIN`` starts ``hf download`` detached (own session: a dropped SSH connection
does not stop it) unless one is running, and records its pid; when it ends well, ``refs/main`` is
pointed at the pinned commit so the MLNode's offline load by model id finds it.
"""

SCRIPT = r'''
import glob, json, os, subprocess, sys, urllib.request
cmd, repo, sha = sys.argv[1], sys.argv[2], sys.argv[3]
home = os.environ["HF_HOME"]
store = os.path.join(home, "hub", "models--" + repo.replace("/", "--"))
ours = os.path.join(home, ".gonka-deploy")
key = repo.replace("/", "--") + "@" + sha
pidfile, logfile = os.path.join(ours, key + ".pid"), os.path.join(ours, key + ".log")

def running():
    try:
        pid = int(open(pidfile).read().split()[0])
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            return pid if f.read().rsplit(")", 1)[1].split()[0] != "Z" else None
    except (OSError, ValueError, IndexError):
        return None

def files():
    tree = os.path.join(store, "trees", sha + ".json")
    kept = os.path.join(ours, key + ".files.json")
    for path in (tree, kept):
        if os.path.exists(path):
            data = json.load(open(path))
            listing = data.get("files", data) if isinstance(data, dict) else data
            if isinstance(listing, dict):
                return {p: e["size"] if isinstance(e, dict) else e for p, e in listing.items()}
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = "%s/api/models/%s/tree/%s?recursive=true" % (endpoint, repo, sha)
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            listing = {e["path"]: e["size"] for e in json.load(r) if e.get("type") == "file"}
    except Exception as exc:
        return {"__error__": str(exc)}
    os.makedirs(ours, exist_ok=True)
    with open(kept + ".tmp", "w") as f:  # a concurrent status never reads half a list
        json.dump(listing, f)
    os.replace(kept + ".tmp", kept)
    return listing

def status():
    want = files()
    out = {"repo": repo, "sha": sha, "running": running(), "complete": False}
    if "__error__" in want:
        out["error"] = "no file list: " + want["__error__"]
        return out
    snap = os.path.join(store, "snapshots", sha)
    have, missing = 0, []
    for path, size in want.items():
        try:
            st = os.stat(os.path.join(snap, path))
        except OSError:
            missing.append(path)
            continue
        if st.st_size != size:
            missing.append(path)
        else:
            have += size
    partial = 0
    for blob in glob.glob(os.path.join(store, "blobs", "*.incomplete")):
        try:  # the downloader renames a finished blob at any moment
            partial += os.path.getsize(blob)
        except OSError:
            pass
    out.update(total=sum(want.values()), have=have + partial, files=len(want),
               missing=sorted(missing)[:20], missing_count=len(missing),
               complete=not missing)
    return out

if cmd == "status":
    print(json.dumps(status()))
elif cmd == "start":
    if running():
        print(json.dumps({"started": False, "pid": running()}))
        sys.exit(0)
    os.makedirs(ours, exist_ok=True)
    hf = sys.argv[4]
    refs = os.path.join(store, "refs")
    script = ('"$0" download "$1" --revision "$2" && mkdir -p "$3" && printf %s "$2" > "$3/main"')
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(["sh", "-c", script, hf, repo, sha, refs], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
    with open(pidfile, "w") as f:
        f.write("%d\n" % proc.pid)
    print(json.dumps({"started": True, "pid": proc.pid}))
'''
