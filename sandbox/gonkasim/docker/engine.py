"""Containers as processes: one network namespace + private mount namespace per container.

State lives under $DOCKERSIM_ROOT (default /var/lib/dockersim): <project>/<container>/
state.json, spec.json, log, exitcode. Containers sit on the bridge `dsim0` (169.254.250.1/24
in the host's netns) at 169.254.250.N; published ports are relayed by gonkasim.docker.forward.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import images
from .compose import Service

BRIDGE = "dsim0"
SUBNET = "169.254.250"
GONKASIM_HOME = Path(__file__).resolve().parents[2]  # dir holding the gonkasim package
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOSTS_BEGIN = "# BEGIN dockersim (managed by the docker shim)"
HOSTS_END = "# END dockersim"
STOP_TIMEOUT = 10.0


class EngineError(Exception):
    pass


def root() -> Path:
    return Path(os.environ.get("DOCKERSIM_ROOT") or "/var/lib/dockersim")


def hosts_file() -> Path:
    return Path(os.environ.get("DOCKERSIM_HOSTS_FILE") or "/etc/hosts")


@contextlib.contextmanager
def locked():
    root().mkdir(parents=True, exist_ok=True)
    with open(root() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), text=True, capture_output=True)
    if check and p.returncode:
        raise EngineError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


# ---------------------------------------------------------------- processes


def proc_start_time(pid: int) -> str | None:
    """Start time of a live (non-zombie) pid, to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None if fields[0] in "ZX" else fields[19]


def alive(pid: int | None, start: str | None) -> bool:
    return bool(pid) and proc_start_time(pid) == start


def kill_group(pid: int | None, start: str | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group led by pid, wait (bounded), then SIGKILL it."""
    if not alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.02)


def spawn(argv: list[str], log: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start argv detached (own session, no tty, output to log); returns (pid, start time)."""
    with open(log, "ab") as out:
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True, close_fds=True)
    start = proc_start_time(p.pid) or ""
    p.returncode = 0  # never waited for here: silence Popen's "still running" warning
    return p.pid, start


def python_env(extra_path: str = "") -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", STD_PATH), "PYTHONPATH": str(GONKASIM_HOME)}
    if extra_path:
        env["PYTHONPATH"] += os.pathsep + extra_path
    return env


# ---------------------------------------------------------------- state


class Container:
    """A container's persisted state (dict-backed)."""

    def __init__(self, project: str, name: str, data: dict | None = None):
        self.project = project
        self.name = name
        self.dir = root() / project / name
        self.data = data if data is not None else self._read()

    def _read(self) -> dict:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except FileNotFoundError:
            return {}

    @property
    def exists(self) -> bool:
        return bool(self.data)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.dir / "state.json.tmp"
        write_private(tmp, json.dumps(self.data, indent=1, sort_keys=True))
        tmp.replace(self.dir / "state.json")

    @property
    def running(self) -> bool:
        return alive(self.data.get("pid"), self.data.get("pid_start"))

    @property
    def exit_code(self) -> int:
        try:
            return int((self.dir / "exitcode").read_text())
        except (FileNotFoundError, ValueError):
            return 137  # killed without a word (SIGKILL, host restart)

    @property
    def addr(self) -> str:
        if self.data.get("host_network"):
            return "127.0.0.1"  # network_mode: host shares the host's addresses
        return f"{SUBNET}.{self.data['idx']}"

    @property
    def log(self) -> Path:
        return self.dir / "log"


def all_containers() -> list[Container]:
    out = []
    for state in sorted(root().glob("*/*/state.json")):
        out.append(Container(state.parent.parent.name, state.parent.name))
    return [c for c in out if c.exists]


def project_containers(project: str) -> list[Container]:
    return [c for c in all_containers() if c.project == project]


def find_container(name: str) -> Container | None:
    for c in all_containers():
        if c.name == name:
            return c
    return None


# ---------------------------------------------------------------- network


def bridge_exists() -> bool:
    # not /sys/class/net: /sys may belong to another netns (tests run in `unshare --net`)
    return sh("ip", "link", "show", BRIDGE, check=False).returncode == 0


def ensure_bridge() -> None:
    if not bridge_exists():
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    with contextlib.suppress(OSError):
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    masquerade()


def masquerade() -> None:
    """Containers reach beyond the host only through NAT (the machine has no route back to
    169.254.250.0/24); best effort, as hosts may lack iptables and nft."""
    rule = ["POSTROUTING", "-t", "nat", "-s", f"{SUBNET}.0/24", "!", "-o", BRIDGE,
            "-j", "MASQUERADE"]
    if shutil.which("iptables"):
        if sh("iptables", "-C", *rule, check=False).returncode:
            sh("iptables", "-A", *rule, check=False)
    elif shutil.which("nft"):
        if sh("nft", "list", "table", "ip", "dockersim", check=False).returncode:
            sh("nft", f"add table ip dockersim; add chain ip dockersim post {{ type nat hook "
               f"postrouting priority 100; }}; add rule ip dockersim post ip saddr "
               f"{SUBNET}.0/24 oifname != {BRIDGE} masquerade", check=False)


def alloc_idx(taken_extra: set[int] = frozenset()) -> int:
    taken = {c.data.get("idx") for c in all_containers()} | set(taken_extra)
    for idx in range(2, 255):
        if idx not in taken:
            return idx
    raise EngineError("no free container address on " + BRIDGE)


def netns_name(idx: int) -> str:
    return f"dsim{idx}"


def setup_netns(idx: int) -> None:
    ns, veth = netns_name(idx), f"dsimv{idx}"
    teardown_netns(idx)
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    sh("ip", "link", "set", veth, "master", BRIDGE, "up")
    sh("ip", "-n", ns, "addr", "add", f"{SUBNET}.{idx}/24", "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", ns, "route", "add", "default", "via", f"{SUBNET}.1")


def teardown_netns(idx: int) -> None:
    sh("ip", "link", "del", f"dsimv{idx}", check=False)
    sh("ip", "netns", "del", netns_name(idx), check=False)


def maybe_remove_bridge() -> None:
    if not all_containers() and bridge_exists():
        sh("ip", "link", "del", BRIDGE, check=False)


def write_hosts() -> None:
    """Replace our marked block in /etc/hosts (in place: the file may be a bind mount)."""
    lines = []
    for c in all_containers():
        names = []
        for n in (c.data.get("service"), c.name, c.data.get("hostname")):
            if n and n not in names:
                names.append(n)
        lines.append(f"{c.addr}\t{' '.join(names)}")
    path = hosts_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    text = re.sub(rf"\n?{re.escape(HOSTS_BEGIN)}\n.*?{re.escape(HOSTS_END)}\n?", "\n", text,
                  flags=re.S)
    text = text.rstrip("\n") + "\n" if text.strip() else ""
    if lines:
        text += HOSTS_BEGIN + "\n" + "\n".join(lines) + "\n" + HOSTS_END + "\n"
    with open(path, "r+" if path.exists() else "w") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


# ---------------------------------------------------------------- what a container runs


def gpu_available() -> bool:
    try:
        from gonkasim import settings

        conf = settings.load()
    except ImportError:
        conf = {}
    gpu = conf.get("gpu")
    return bool(gpu) and int(gpu.get("count", 1) or 0) > 0 and not conf.get("nvidia_smi_fail")


GPU_ERROR = ('Error response from daemon: could not select device driver "nvidia" '
             "with capabilities: [[gpu]]")


def container_env(svc: Service, image_role: images.ImageRole, name: str) -> dict[str, str]:
    bindir = GONKASIM_HOME / "images" / image_role.role / "bin"
    pythonpath = [str(GONKASIM_HOME)]
    if image_role.role == "mlnode":
        pythonpath.append(str(GONKASIM_HOME / "gonkasim" / "fake_site"))
    env = {
        "PATH": f"{bindir}:{STD_PATH}",
        "HOME": "/root",
        "HOSTNAME": svc.hostname or name,
        "GONKASIM_IMAGE": svc.image,
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("GONKASIM_SETTINGS", "GONKASIM_LOG_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(svc.environment)
    return env


def default_argv(svc: Service, image_role: images.ImageRole) -> list[str]:
    cmd = svc.command
    if image_role.kind == "sim":
        return [sys.executable, "-m", "gonkasim", image_role.role]
    if image_role.kind == "nginx":
        return cmd or ["nginx", "-e", "stderr", "-g", "daemon off;"]
    if image_role.kind == "prometheus":
        args = cmd or ["--config.file=/etc/prometheus/prometheus.yml",
                       "--storage.tsdb.path=/prometheus"]
        return ["prometheus", *args]
    if image_role.kind == "node-exporter":
        return ["prometheus-node-exporter", *(cmd or [])]
    if not cmd:
        raise EngineError(f"service {svc.name!r} has no command to run")
    return cmd


def strip_resolve(conf: str) -> str:
    """Drop the `resolve` parameter of upstream `server` lines (nginx 1.22 lacks it)."""
    return re.sub(r"(^\s*server\s[^;#\n]*?)\s+resolve(?=[\s;])", r"\1", conf, flags=re.M)


def prepare_mounts(svc: Service, c: Container, image_role: images.ImageRole) -> list[dict]:
    mounts = []
    for v in svc.volumes:
        if v["type"] == "volume":
            if not v["source"]:
                src = c.dir / "anon" / v["target"].strip("/").replace("/", "_")
            else:
                src = root() / "volumes" / f"{svc.project}_{v['source']}"
            src.mkdir(parents=True, exist_ok=True)
            source = str(src)
        else:
            source = v["source"]
            if not os.path.exists(source):
                os.makedirs(source, exist_ok=True)  # like docker: a missing source -> a dir
        if image_role.kind == "nginx" and v["target"] == "/etc/nginx/nginx.conf":
            c.data["nginx_conf_src"] = source
            source = str(refresh_nginx_conf(c))
        mounts.append({"source": source, "target": v["target"], "read_only": v["read_only"]})
    return mounts


def refresh_nginx_conf(c: Container) -> Path:
    """(Re)write the resolve-free copy in place, so a bind mount of it sees the new text."""
    src = c.data.get("nginx_conf_src")
    copy = c.dir / "nginx.conf"
    if src and os.path.isfile(src):
        text = strip_resolve(Path(src).read_text())
        with open(copy, "r+" if copy.exists() else "w") as f:
            f.write(text)
            f.truncate()
    return copy


def write_spec(c: Container, svc: Service, image_role: images.ImageRole, argv: list[str],
               env: dict[str, str], mounts: list[dict], tag: str = "spec") -> Path:
    spec = {
        "argv": argv,
        "env": env,
        "mounts": mounts,
        "tmpfs": ["/run"] if image_role.kind == "nginx" else [],
        "exitcode": str(c.dir / "exitcode"),
        "cwd": str(c.dir / "work") if image_role.kind == "prometheus" else "/",
    }
    path = c.dir / f"{tag}.json"
    write_private(path, json.dumps(spec, indent=1))
    return path


def write_private(path: Path, text: str) -> None:
    """Container records hold the service environment (secrets included), like docker's own
    config.v2.json: root only, 0600 from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# ---------------------------------------------------------------- lifecycle


def create(svc: Service, idx: int) -> Container:
    c = Container(svc.project, svc.container_name, {})
    shutil.rmtree(c.dir, ignore_errors=True)
    c.dir.mkdir(parents=True)
    c.data = {
        "name": c.name, "project": svc.project, "service": svc.name, "image": svc.image,
        "hash": svc.config_hash(), "idx": idx, "hostname": svc.hostname,
        "created": time.time(), "ports": svc.ports, "config_files": [],
        "gpu": svc.wants_gpu, "host_network": svc.raw.get("network_mode") == "host",
    }
    c.save()
    return c


def start(c: Container, svc: Service) -> None:
    """Start a created or exited container; raises EngineError with docker's message."""
    image_role = images.resolve(svc.image)
    if image_role is None:
        raise EngineError(images.pull_denied(svc.image))
    if svc.wants_gpu and not gpu_available():
        raise EngineError(GPU_ERROR)
    record_image(svc.image)  # `up` pulls a missing image, as docker does
    idx = c.data["idx"]
    host_network = c.data.get("host_network", False)
    if not host_network:
        ensure_bridge()
        setup_netns(idx)
    mounts = prepare_mounts(svc, c, image_role)
    env = container_env(svc, image_role, c.name)
    (c.dir / "work").mkdir(exist_ok=True)
    spec = write_spec(c, svc, image_role, default_argv(svc, image_role), env, mounts)
    with contextlib.suppress(FileNotFoundError):
        (c.dir / "exitcode").unlink()
    command = default_argv(svc, image_role)
    argv = ["unshare", "-m", "--propagation", "private",
            sys.executable, "-m", "gonkasim.docker.boot", str(spec)]
    if not host_network:  # like docker: network_mode host runs in the host's network namespace
        argv = ["ip", "netns", "exec", netns_name(idx), *argv]
    pid, pid_start = spawn(argv, c.log, python_env())
    c.data.update(pid=pid, pid_start=pid_start, started=time.time(), env=env,
                  kind=image_role.kind, command=command)
    c.save()
    if svc.ports and not host_network:  # docker ignores `ports` with network_mode host
        start_forwarder(c)


def start_forwarder(c: Container) -> None:
    status = c.dir / "forward.status"
    with contextlib.suppress(FileNotFoundError):
        status.unlink()
    spec = c.dir / "forward.json"
    ports = [p for p in c.data["ports"] if p.get("published")]
    write_private(spec, json.dumps({"ports": ports, "addr": c.addr, "status": str(status)}))
    pid, pid_start = spawn([sys.executable, "-m", "gonkasim.docker.forward", str(spec)],
                           c.dir / "forward.log", python_env())
    c.data.update(fwd_pid=pid, fwd_start=pid_start)
    c.save()
    deadline = time.monotonic() + 10
    while not status.exists():
        if not alive(pid, pid_start) or time.monotonic() > deadline:
            raise EngineError("Error response from daemon: port forwarder did not start: "
                              + (c.dir / "forward.log").read_text()[-500:])
        time.sleep(0.01)
    text = status.read_text()
    if text.startswith("error: "):
        raise EngineError("Error response from daemon: driver failed programming external "
                          f"connectivity on endpoint {c.name}: {text[len('error: '):]}")


def stop(c: Container, timeout: float = STOP_TIMEOUT) -> None:
    kill_group(c.data.get("fwd_pid"), c.data.get("fwd_start"), timeout=2)
    kill_group(c.data.get("pid"), c.data.get("pid_start"), timeout=timeout)
    if "idx" in c.data and not c.data.get("host_network"):
        teardown_netns(c.data["idx"])


def remove(c: Container) -> None:
    stop(c)
    shutil.rmtree(c.dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        c.dir.parent.rmdir()  # the project dir, once empty


def run_once(svc: Service, argv: list[str] | None, extra_env: dict[str, str]) -> int:
    """`compose run --rm`: a throwaway container in the host netns, stdin/stdout attached."""
    image_role = images.resolve(svc.image)
    if image_role is None:
        raise EngineError(images.pull_denied(svc.image))
    tag = f"{svc.project}-{svc.name}-run-{os.getpid():x}"
    c = Container(svc.project, "." + tag, {})
    c.dir = root() / ".run" / tag
    c.dir.mkdir(parents=True, exist_ok=True)
    try:
        mounts = prepare_mounts(svc, c, image_role)
        env = container_env(svc, image_role, tag) | extra_env
        argv = argv or default_argv(svc, image_role)
        spec = write_spec(c, svc, image_role, argv, env, mounts)
        cmd = ["unshare", "-m", "--propagation", "private", sys.executable, "-m",
               "gonkasim.docker.boot", str(spec), "--foreground"]
        return subprocess.run(cmd, env=python_env()).returncode
    finally:
        shutil.rmtree(c.dir, ignore_errors=True)


def exec_in(c: Container, argv: list[str], extra_env: dict[str, str], workdir: str | None) -> int:
    if c.data.get("kind") == "nginx":
        refresh_nginx_conf(c)
    env = dict(c.data.get("env") or {}) | extra_env
    # -r: the container's root. A sandbox host is itself chroot'ed, and nsenter without -r would
    # run the command in the machine's root filesystem instead of the host's.
    cmd = ["nsenter", "-t", str(c.data["pid"]), "-m", "-n", "-r"]
    cmd.append(f"--wd={workdir}" if workdir else "-w")
    return subprocess.run([*cmd, "--", *argv], env=env).returncode


# ---------------------------------------------------------------- images


def images_file() -> Path:
    return root() / "images.json"


def image_known(ref: str) -> bool:
    try:
        return ref in json.loads(images_file().read_text())
    except FileNotFoundError:
        return False


def record_image(ref: str) -> None:
    path = images_file()
    try:
        known = json.loads(path.read_text())
    except FileNotFoundError:
        known = {}
    known[ref] = time.time()
    write_private(path, json.dumps(known, indent=1, sort_keys=True))
