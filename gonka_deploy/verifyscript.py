"""Host-side verification, run as ``python3 -c SCRIPT ARGS_JSON`` (stdlib only, as root).

Every check of phase 7 in one SSH round trip: the checks run in threads, each network call and
each ``docker compose`` command has a short timeout, nothing sleeps. It prints one JSON line::

    {"checks": [{"name": "chain_sync", "ok": true, "detail": "height 1234, block 2 s old"}, ...]}

``ok`` is true (passed), false (failed: the host fails) or null (a warning: the chain is still
syncing, an ML node has no status yet, a log line at error level).

ARGS_JSON keys: join_dir, api_port, version (URL segment, e.g. v3.0.8), service (its MLNode
compose service), seed_api_url, account_address (cold), public_url, gpu {model, count, vram_gb},
mlnode_ids; optional: upgrades (the release profile's chain upgrades: name, height, version),
rpc_url, rest_url, admin_url, ml_url, docker, max_block_age (s), timeout (s), group_file and
passwd_file (default /etc/group, /etc/passwd).

``docker_group`` warns naming each non-root account of the ``docker`` group (its member list,
or the group as an account's primary group): they read every container's environment, the
api's KEYRING_PASSWORD (upstream passes it as env) among it.

Chain upgrades: ``binaries`` compares what runs (``inferenced version`` of the node's cosmovisor
``current`` binary, the api's ``GET /v1/versions``: api_version and node_version) with the
newest upgrade of the profile at or below the chain's height; ``upgrade_plan`` reads the node's
pending plan (x/upgrade ``current_plan`` on its REST port) and says whether this host is ready
for it: both binaries under ``cosmovisor/upgrades/<name>/bin``, free disk for cosmovisor's
backup of ``.inference/data``.

Log signatures (``docker compose logs --tail 200``), kept small on purpose:
  failures: ``panic:`` (Go), ``CONSENSUS FAILURE`` (CometBFT), ``CUDA out of memory`` /
  ``torch.OutOfMemoryError`` (vLLM), ``Traceback (most recent call last)`` (Python),
  ``FATAL`` / ``level=fatal`` (logrus, nginx ``[emerg]``);
  warnings: ``level=error`` and `` ERR `` (the api and the chain log transient peer and
  request errors at this level; worth a look, not a failed host).
"""

SCRIPT = r'''
import concurrent.futures, datetime, functools, json, os, re, subprocess, sys, urllib.error
import urllib.request

A = json.loads(sys.argv[1])
T = float(A.get("timeout", 5))
FATAL = ["panic:", "CONSENSUS FAILURE", "CUDA out of memory", "torch.OutOfMemoryError",
         "Traceback (most recent call last)", "FATAL", "level=fatal", "[emerg]"]
ERROR = ["level=error", " ERR "]


def get(url):
    """(status, body text); status 0 and the reason when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=T) as r:
            return r.status, r.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(4096).decode("utf-8", "replace")
    except Exception as e:
        return 0, "%s: %s" % (url, getattr(e, "reason", e))


def get_json(url):
    code, body = get(url)
    if code != 200:
        return None, "HTTP %s %s" % (code, body.strip()[:200]) if code else body
    try:
        return json.loads(body), None
    except ValueError:
        return None, "not JSON: " + body.strip()[:200]


def compose(*args, timeout=60):
    argv = [A.get("docker", "docker"), "compose"] + list(args)
    try:
        p = subprocess.run(argv, cwd=A["join_dir"], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s: %s" % (timeout, " ".join(argv))
    except OSError as e:
        return 127, "", str(e)
    return p.returncode, p.stdout, p.stderr


def short(text, n=200):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def check_chain():
    doc, err = get_json(A.get("rpc_url", "http://127.0.0.1:26657") + "/status")
    if err:
        return False, "chain RPC: " + err
    info = doc.get("result", doc).get("sync_info", {})
    height = int(info.get("latest_block_height") or 0)
    if info.get("catching_up"):
        seed, _ = get_json(A["seed_api_url"].rstrip("/") + "/chain-rpc/status")
        try:
            top = int(seed.get("result", seed)["sync_info"]["latest_block_height"])
            return None, "catching up: height %d of %d (%.1f%%)" % (
                height, top, 100.0 * height / top if top else 0.0)
        except Exception:
            return None, "catching up: height %d (network height unknown)" % height
    try:
        stamp = info["latest_block_time"].replace("Z", "+00:00")
        if "." in stamp:  # CometBFT prints nanoseconds; fromisoformat takes 6 digits at most
            head, tail = stamp.split(".", 1)
            digits = tail[:len(tail) - len(tail.lstrip("0123456789"))]
            stamp = head + "." + digits[:6].ljust(6, "0") + tail[len(digits):]
        block = datetime.datetime.fromisoformat(stamp)
        age = (datetime.datetime.now(datetime.timezone.utc) - block).total_seconds()
    except Exception:
        return False, "height %d, no readable latest_block_time" % height
    limit = float(A.get("max_block_age", 120))
    if age > limit:
        return False, "height %d is not rising: latest block is %d s old (limit %d s)" % (
            height, age, limit)
    return True, "height %d, latest block %d s old, not catching up" % (height, max(age, 0))


def check_participant():
    url = "%s/v2/participants/%s" % (A["seed_api_url"].rstrip("/"), A["account_address"])
    code, body = get(url)
    if code == 404:
        return False, "%s is not registered on the seed api" % A["account_address"]
    if code != 200:
        return False, "seed api: HTTP %s %s" % (code, short(body)) if code else body
    try:
        p = json.loads(body)["participant"]
    except (ValueError, KeyError, TypeError):
        return False, "seed api: unexpected answer " + short(body)
    url = p.get("inferenceUrl")
    if (url or "").rstrip("/") != A["public_url"].rstrip("/"):
        return False, "registered with inferenceUrl %s, not %s" % (url, A["public_url"])
    return True, "%s at %s (%s)" % (A["account_address"], url, p.get("status", "?"))


def proxy_url(path):
    return "http://127.0.0.1:%s%s" % (A["api_port"], path)


def check_proxy_health():
    code, body = get(proxy_url("/health"))
    if code != 200:
        return False, "%s: HTTP %s %s" % (proxy_url("/health"), code, short(body)) if code \
            else body
    return True, "%s: 200 %s" % (proxy_url("/health"), short(body, 40))


def check_dashboard():
    code, body = get(proxy_url("/"))
    if code != 200:
        return False, "%s: HTTP %s %s" % (proxy_url("/"), code, short(body)) if code else body
    if "<html" not in body.lower():
        return False, "%s: 200 but no HTML page" % proxy_url("/")
    return True, "%s: 200, %d bytes of HTML" % (proxy_url("/"), len(body))


def check_admin_nodes():
    doc, err = get_json(A.get("admin_url", "http://127.0.0.1:9200") + "/admin/v1/nodes")
    if err:
        return False, "admin api: " + err
    seen = {}
    for entry in doc if isinstance(doc, list) else []:
        node, st = entry.get("node") or {}, entry.get("state") or {}
        seen[node.get("id")] = st
    missing = [i for i in A["mlnode_ids"] if i not in seen]
    if missing:
        return False, "ML node(s) %s not known to the api (it has: %s)" % (
            ", ".join(missing), ", ".join(sorted(str(k) for k in seen)) or "none")
    parts, ok = [], True
    for i in A["mlnode_ids"]:
        st = seen[i]
        status = st.get("current_status") or "UNKNOWN"
        if status == "FAILED":
            ok = False
            parts.append("%s FAILED (%s)" % (i, short(st.get("failure_reason") or "", 120)))
        else:
            if status == "UNKNOWN" and ok:
                ok = None
            parts.append("%s %s" % (i, status))
    return ok, ", ".join(parts)


def check_mlnode_state():
    url = "%s/%s/api/v1/state" % (A.get("ml_url", "http://127.0.0.1:8080"), A["version"])
    doc, err = get_json(url)
    if err:
        return False, "%s: %s" % (url, err)
    return True, "%s: state %s, version %s" % (url, doc.get("state"), doc.get("version"))


def check_gpu():
    want = A["gpu"]
    rc, out, err = compose("exec", "-T", A["service"], "nvidia-smi",
                           "--query-gpu=name,memory.total", "--format=csv,noheader,nounits",
                           timeout=30)
    if rc != 0:
        return False, "nvidia-smi in %s failed (rc %d): %s" % (A["service"], rc,
                                                               short(err or out))
    rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]
    problems = []
    if len(rows) != int(want["count"]):
        problems.append("%d GPU(s), want %d" % (len(rows), want["count"]))
    for row in rows:
        name = row[0]
        if want["model"].lower() not in name.lower():
            problems.append("%s is not a %s" % (name, want["model"]))
        try:
            gib = float(row[1]) / 1024
        except (IndexError, ValueError):
            problems.append("no memory.total for " + name)
            continue
        if abs(gib - want["vram_gb"]) > 0.1 * want["vram_gb"]:
            problems.append("%s has %.1f GiB, want about %s" % (name, gib, want["vram_gb"]))
    if problems:
        return False, "; ".join(sorted(set(problems)))
    mem = rows[0][1] if rows else "?"
    return True, "%d x %s, %s MiB each" % (len(rows), rows[0][0] if rows else "?", mem)


TORCH = ("import json, torch; ok = torch.cuda.is_available(); n = torch.cuda.device_count() "
         "if ok else 0; print(json.dumps({'available': ok, 'count': n, 'torch': "
         "torch.__version__, 'names': [torch.cuda.get_device_name(i) for i in range(n)]}))")


def check_cuda():
    rc, out, err = compose("exec", "-T", A["service"], "python3", "-c", TORCH, timeout=90)
    if rc != 0:
        return False, "torch in %s failed (rc %d): %s" % (A["service"], rc, short(err or out))
    try:
        doc = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, "torch printed no result: " + short(out + err)
    if not doc.get("available"):
        return False, "torch.cuda.is_available() is False (torch %s)" % doc.get("torch")
    if doc.get("count") != int(A["gpu"]["count"]):
        return False, "torch.cuda.device_count() is %s, want %s" % (doc.get("count"),
                                                                   A["gpu"]["count"])
    return True, "torch %s: cuda available, %d device(s)" % (doc.get("torch"), doc["count"])


def check_logs():
    rc, out, err = compose("logs", "--no-color", "--tail", "200", timeout=60)
    if rc != 0:
        return False, "docker compose logs failed (rc %d): %s" % (rc, short(err or out))
    fatal, errors = [], []
    for line in out.splitlines():
        source, bar, text = line.partition(" | ")
        source, text = (source.strip(), text) if bar else ("?", line)
        if any(s in text for s in FATAL):
            fatal.append("%s: %s" % (source, short(text, 160)))
        elif any(s in text for s in ERROR):
            errors.append("%s: %s" % (source, short(text, 160)))
    if fatal:
        return False, "%d error line(s), first: %s" % (len(fatal), " | ".join(fatal[:3]))
    if errors:
        return None, "%d line(s) at error level, first: %s" % (len(errors),
                                                                " | ".join(errors[:3]))
    return True, "no error signature in the last 200 lines of each service"


# The node image's cosmovisor home and the upgrade binary's own `version` (gonka-ai/gonka@
# 6b9de5c3:test-net-cloud/nebius/docs/testnet-2.16-join-instruction.md: `docker exec node
# /root/.inference/cosmovisor/current/bin/inferenced version`; the binary is musl, so it runs
# in the container, not on the host).
NODE_BINARY = "/root/.inference/cosmovisor/current/bin/inferenced"
BACKUP_MARGIN = 1.10


@functools.lru_cache(maxsize=None)
def chain_height():
    doc, err = get_json(A.get("rpc_url", "http://127.0.0.1:26657") + "/status")
    try:
        return int(doc.get("result", doc)["sync_info"]["latest_block_height"])
    except Exception:
        return None


def numbers(version):
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", version or "")
    return tuple(int(g) for g in m.groups()) if m else None


def bare(version):
    return (version or "").strip().lstrip("v")


def check_binaries():
    ups = A.get("upgrades") or []
    height = chain_height()
    applied = [u for u in ups if u.get("height") is None
               or (height is not None and u["height"] <= height)]
    want = applied[-1] if applied else None
    rc, out, err = compose("exec", "-T", "node", NODE_BINARY, "version", timeout=30)
    lines = [x.strip() for x in (out or "").splitlines() if x.strip()]
    current = lines[-1] if rc == 0 and lines else None
    doc, verr = get_json(proxy_url("/v1/versions"))
    api = node = None
    if doc:
        api = (doc.get("api_version") or {}).get("version")
        node = (doc.get("node_version") or {}).get("version")
    problems = []
    if current is None:
        problems.append("`inferenced version` in node " + (
            "failed (rc %d): %s" % (rc, short(err or out)) if rc else "printed nothing"))
    if verr:
        problems.append("%s: %s" % (proxy_url("/v1/versions"), verr))
    seen = "node binary %s, node running %s, api %s" % (current or "?", node or "?", api or "?")
    if not want:
        if problems:
            return False, "; ".join(problems)
        return True, seen + " (the profile lists no chain upgrade at this height)"
    expected = want.get("version") or want["name"]
    newer = []
    for label, got in (("the node's current binary", current), ("the running node", node),
                       ("the api", api)):
        if got is None or bare(got) == bare(expected):
            continue
        if numbers(got) and numbers(expected) and numbers(got) > numbers(expected):
            newer.append("%s runs %s" % (label, got))
        else:
            problems.append("%s runs %s, the profile's newest applied upgrade %s ships %s" % (
                label, got, want["name"], expected))
    if problems:
        return False, "; ".join(problems)
    if newer:
        return None, "%s, newer than the profile's newest applied upgrade %s (%s): the chain " \
            "moved on; use a newer release profile" % (", ".join(newer), want["name"], expected)
    return True, "%s = upgrade %s (%s)" % (seen, want["name"], expected)


def tree_bytes(path):
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def gib(n):
    return "%.1f GiB" % (n / 2.0 ** 30)


def check_upgrade_plan():
    url = A.get("rest_url", "http://127.0.0.1:1317") + "/cosmos/upgrade/v1beta1/current_plan"
    doc, err = get_json(url)
    if err:
        return None, "pending chain upgrade unknown: %s: %s" % (url, err)
    plan = doc.get("plan")
    if not plan:
        return True, "no pending chain upgrade"
    name, at = plan.get("name", "?"), int(plan.get("height") or 0)
    try:
        info = json.loads(plan.get("info") or "{}")
    except ValueError:
        info = {}
    height = chain_height()
    head = "%s at height %d%s: " % (name, at, " (%d blocks from now)" % (at - height)
                                   if height is not None else "")
    homes = [(".inference", "inferenced")]
    if isinstance(info, dict) and info.get("api_binaries"):
        homes.append((".dapi", "decentralized-api"))
    missing = []
    for home, program in homes:
        path = os.path.join(A["join_dir"], home, "cosmovisor", "upgrades", name, "bin", program)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            missing.append(path)
    if missing:
        # The deploy stages only an upgrade the release profile lists (the seed's plan alone
        # authenticates no binary): "run the deploy" is the fix only when it does.
        listed = [u for u in A.get("upgrades") or [] if u.get("name") == name]
        fix = "run the deploy to place them"
        if "upgrades" in A and not listed:
            fix = ("the release profile does not list %s, and the deploy stages only what it "
                   "lists: add its chain_upgrades entry (checked against the release "
                   "announcement), then run the deploy" % name)
        return False, head + "NOT ready: missing " + ", ".join(missing) + \
            " (the node halts at that height; " + fix + ")"
    inference = os.path.join(A["join_dir"], ".inference")
    fs = os.statvfs(inference)
    free, data = fs.f_bavail * fs.f_frsize, tree_bytes(os.path.join(inference, "data"))
    if free < data * BACKUP_MARGIN:
        return None, head + "binaries in place; NOT enough disk for cosmovisor's backup: %s " \
            "free, .inference/data is %s (need %s)" % (gib(free), gib(data),
                                                        gib(data * BACKUP_MARGIN))
    return True, head + "ready: binaries in place, %s free for a %s backup" % (gib(free),
                                                                              gib(data))


def docker_group_members(group_file, passwd_file):
    """The accounts of the `docker` group: its member list in /etc/group, and every account
    whose primary group it is (/etc/passwd). None when the host has no such group."""
    gid, members = None, set()
    with open(group_file) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if len(fields) >= 4 and fields[0] == "docker":
                gid = fields[2]
                members |= {m.strip() for m in fields[3].split(",") if m.strip()}
    if gid is None:
        return None
    try:
        with open(passwd_file) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 4 and fields[3] == gid:
                    members.add(fields[0])
    except OSError:
        pass
    return members


def check_docker_group():
    """Members of `docker` read every container's environment (`docker inspect`), the api's
    KEYRING_PASSWORD among them: a warning naming each non-root one, never a failure (the
    operator may have put them there on purpose)."""
    members = docker_group_members(A.get("group_file", "/etc/group"),
                                   A.get("passwd_file", "/etc/passwd"))
    if members is None:
        return True, "no docker group on the host"
    others = sorted(members - {"root"})
    if others:
        return None, "account(s) %s in the docker group read every container's environment " \
            "(the api's KEYRING_PASSWORD: `docker inspect`); remove them unless meant " \
            "(gpasswd -d <user> docker)" % ", ".join(others)
    return True, "no non-root account in the docker group"


CHECKS = [("chain_sync", check_chain), ("participant", check_participant),
          ("proxy_health", check_proxy_health), ("dashboard", check_dashboard),
          ("admin_nodes", check_admin_nodes), ("mlnode_state", check_mlnode_state),
          ("gpu", check_gpu), ("cuda", check_cuda), ("logs", check_logs),
          ("binaries", check_binaries), ("upgrade_plan", check_upgrade_plan),
          ("docker_group", check_docker_group)]


def run(fn):
    try:
        return fn()
    except Exception as e:  # a check that breaks is a failed check, never a traceback
        return False, "check error: %s: %s" % (type(e).__name__, e)


with concurrent.futures.ThreadPoolExecutor(len(CHECKS)) as pool:
    futures = [(name, pool.submit(run, fn)) for name, fn in CHECKS]
    checks = []
    for name, future in futures:
        ok, detail = future.result()
        checks.append({"name": name, "ok": ok, "detail": detail})
print(json.dumps({"checks": checks}))
'''

CHECK_NAMES = ("chain_sync", "participant", "proxy_health", "dashboard", "admin_nodes",
               "mlnode_state", "gpu", "cuda", "logs", "binaries", "upgrade_plan",
               "docker_group")
