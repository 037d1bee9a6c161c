"""Fleet: N real SSH hosts on this machine, without Docker or VMs.

Each host is an OpenSSH sshd in its own mount + pid + uts namespace and (except in mode "lo")
its own network namespace on a private bridge, rooted in an overlay over one shared Debian 12
base. Each gets a blank loop-device disk seen inside as /dev/vdb.

Modes
  netns   (default) 169.254.<slot>.<10+i>:22 on bridge gsbr<slot>; tini -> sshd as PID 1.
  nspawn  the same network, real systemd as PID 1 via systemd-nspawn (systemctl works).
  lo      shared network, sshd on 127.77.<slot>.<10+i>:22; no bridge, machine-side services
          listen on 127.77.<slot>.1 instead of the bridge address.

A slot (address block and names) is claimed machine-wide with an atomic mkdir under
/run/gonka-sandbox, so several runs on one machine never collide. Everything a fleet starts is
recorded by PID in its state.json and torn down by PID; gc() tears down fleets whose owner died.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..images import build as imgbuild, catalog, registry as regmod
from . import base as basemod
from .proc import kill_tree, owner_alive, owner_token, pid_alive, sh

HERE = Path(__file__).resolve().parent
SANDBOX = HERE.parent                       # the repo's sandbox/ dir
HOST_INIT = HERE / "host-init.sh"
HOST_NSPAWN = HERE / "host-nspawn.sh"
HOSTFILES = HERE / "hostfiles"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CLAIMS = Path(os.environ.get("GONKA_SANDBOX_CLAIMS", "/run/gonka-sandbox"))
SLOTS = range(200, 250)                     # 169.254.<slot>.0/24, or 127.77.<slot>.0/24 (lo)
MAX_HOSTS = 200                             # .11 .. .210
MODES = ("netns", "nspawn", "lo")
DEFAULT_SIM = {"gpu": {"model": "H100", "count": 1, "vram_gb": 80}}
APT_PROXY_PORT = 3142
EGRESS_PORT = 3128
EGRESS_ALLOW = ("pypi.org:443", "files.pythonhosted.org:443")


def wait_tcp(addr: str, port: int, timeout: float, banner: bytes = b"",
             alive=lambda: True) -> None:
    """Poll until addr:port accepts TCP (and sends `banner` first, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=0.5) as s:
                if not banner:
                    return
                s.settimeout(2.0)
                if s.recv(len(banner)).startswith(banner):
                    return
        except OSError:
            pass
        if not alive():
            raise RuntimeError(f"{addr}:{port}: the process behind it exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{addr}:{port} not answering after {timeout:.0f} s")
        time.sleep(0.02)


@dataclass
class Host:
    name: str
    idx: int
    address: str
    port: int
    dir: str
    key: str
    pid: int = 0                     # machine PID of the host's PID 1: killing it ends the host
    disk: str | None = None          # the loop device on the machine, e.g. /dev/loop9
    disk_name: str | None = None     # its name inside the host: /dev/vdb
    netns: str | None = None
    veth: str | None = None          # machine-side end of the host's link
    docker: bool = False             # started from the base with Docker preinstalled

    @property
    def upper(self) -> Path:
        """What this host changed, seen from the machine (the overlay's upper dir)."""
        return Path(self.dir) / "upper"

    def ssh_argv(self, user: str = "root") -> list[str]:
        return ["ssh", "-i", self.key, "-p", str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", f"{user}@{self.address}"]

    def ssh_data(self, user: str = "root") -> dict:
        """pyinfra @ssh connector data for this host."""
        data = {"ssh_hostname": self.address, "ssh_user": user, "ssh_key": self.key,
                "ssh_known_hosts_file": "/dev/null", "ssh_strict_host_key_checking": "off"}
        if self.port != 22:
            data["ssh_port"] = self.port
        if user != "root":
            data["_sudo"] = True
        return data

    def run(self, cmd: str, user: str = "root", check: bool = True, timeout: float = 120) -> str:
        """Run a shell command over real SSH; returns stdout (raises on failure if check)."""
        return sh(*self.ssh_argv(user), cmd, check=check, timeout=timeout).stdout


@dataclass
class Fleet:
    mode: str = "netns"
    disk_size: str | None = "1G"               # sparse; None: no data disk
    seed_dirs: dict | None = None              # {"gonkasim": dir, "shims": dir}; None: the repo's
    apt_proxy: bool = True                     # apt-cacher-ng on the gateway, hosts use it
    egress: bool = True                        # CONNECT proxy for PyPI on the gateway
    registry: bool = True                      # the stand-in images' registry on the gateway
    root: Path | None = None                   # default $GONKA_SANDBOX_DIR
    hosts: list[Host] = field(default_factory=list)
    slot: int | None = None
    dir: Path | None = None                    # this fleet's run dir (logs, hosts, state.json)
    base: Path | None = None
    key: Path | None = None
    services: dict = field(default_factory=dict)      # name -> pid
    images: dict = field(default_factory=dict)        # stand-in name:tag -> manifest digest
    ca: Path | None = None                     # the sandbox CA the registry's TLS chains to
    docker_base: Path | None = None
    forward_rule: bool = False                 # an ACCEPT rule for our bridge in FORWARD
    _procs: dict = field(default_factory=dict, repr=False)

    # ---------------- lifecycle ----------------
    def start(self) -> Fleet:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.mode == "nspawn" and not shutil.which("systemd-nspawn"):
            raise RuntimeError("mode nspawn needs systemd-nspawn "
                               "(apt-get install systemd-container)")
        self.root = Path(self.root or basemod.sandbox_dir())
        self.base, self.key = basemod.ensure_base(self.root)
        gc(self.root)
        self._claim_slot()
        try:
            if self.mode != "lo":
                br = self.bridge
                sh("ip", "link", "add", br, "type", "bridge")
                sh("ip", "addr", "add", f"{self.gateway}/24", "dev", br)
                sh("ip", "link", "set", br, "up")
                self._allow_forwarding()
            if self.apt_proxy:
                self._start_apt_proxy()
            if self.egress:
                self.serve("egress", [sys.executable, str(HERE / "egress.py"), "--listen",
                                      f"{self.gateway}:{EGRESS_PORT}",
                                      *[a for h in EGRESS_ALLOW for a in ("--allow", h)]],
                           EGRESS_PORT)
            if self.registry:
                self._start_registry()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def gateway(self) -> str:
        """The machine as the hosts see it (apt proxy, egress proxy, seed sim, git daemon)."""
        return f"127.77.{self.slot}.1" if self.mode == "lo" else f"169.254.{self.slot}.1"

    @property
    def bridge(self) -> str:
        return f"gsbr{self.slot}"

    def _claim_slot(self) -> None:
        CLAIMS.mkdir(parents=True, exist_ok=True)
        for slot in SLOTS:
            claim = CLAIMS / f"slot-{slot}"
            try:
                claim.mkdir()
            except FileExistsError:
                continue
            net = f"169.254.{slot}.0/24" if self.mode != "lo" else f"127.77.{slot}.0/24"
            used = sh("ip", "-o", "addr", "show", "to", net, check=False).stdout.strip()
            if used or Path(f"/sys/class/net/gsbr{slot}").exists():
                shutil.rmtree(claim, ignore_errors=True)     # someone else's network: skip
                continue
            rundir = self.root / "run" / f"slot-{slot}"
            shutil.rmtree(rundir, ignore_errors=True)
            rundir.mkdir(parents=True)
            self.slot, self.dir = slot, rundir
            self._save()
            (claim / "rundir").write_text(str(rundir))
            (claim / "owner").write_text(owner_token(os.getpid()))
            return
        raise RuntimeError("no free sandbox slot; run `python3 -m sandbox gc`")

    def _save(self) -> None:
        state = {"mode": self.mode, "slot": self.slot, "gateway": self.gateway,
                 "bridge": self.bridge if self.mode != "lo" else None,
                 "owner": owner_token(os.getpid()), "key": str(self.key), "base": str(self.base),
                 "bases": [str(b) for b in (self.base, self.docker_base) if b],
                 "forward_rule": self.forward_rule,
                 "services": self.services, "hosts": [asdict(h) for h in self.hosts]}
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.rename(self.dir / "state.json")

    def stop(self) -> None:
        if self.dir is None:
            return
        self._save()
        teardown(self.dir, procs=list(self._procs.values()))
        self._procs.clear()
        self.hosts.clear()
        self.services.clear()
        self.slot = self.dir = None

    # ---------------- machine-side services ----------------
    def serve(self, name: str, argv: list[str], port: int, env: dict | None = None,
              cwd: str | Path | None = None, timeout: float = 30) -> subprocess.Popen:
        """Start a machine-side process, log to <fleet dir>/<name>.log, and wait (bounded)
        until gateway:port accepts TCP. It is killed by PID with the fleet."""
        if name in self.services:
            raise ValueError(f"service {name!r} already running")
        log = open(self.dir / f"{name}.log", "wb")
        with log:
            p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        self.services[name] = p.pid
        self._procs[f"service:{name}"] = p
        self._save()
        try:
            wait_tcp(self.gateway, port, timeout, alive=lambda: p.poll() is None)
        except (RuntimeError, TimeoutError) as e:
            kill_tree(p.pid, group=True)
            p.wait(timeout=5)
            del self.services[name], self._procs[f"service:{name}"]
            self._save()
            raise RuntimeError(f"service {name} did not start ({e}):\n"
                               f"{self.log(name)[-3000:]}") from e
        return p

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _allow_forwarding(self) -> None:
        """Hosts talk to each other across our bridge. A dockerd in the machine's own network
        namespace sets the FORWARD policy to DROP and turns on bridge-nf-call-iptables, which
        puts bridged traffic through that chain: let our bridge through explicitly (removed at
        teardown). Machines without iptables, or with an ACCEPT policy, need nothing."""
        if not shutil.which("iptables"):
            return
        policy = sh("iptables", "-S", "FORWARD", check=False).stdout.splitlines()[:1]
        if policy != ["-P FORWARD DROP"]:
            return
        sh("iptables", *forward_rule("-I", self.bridge))
        self.forward_rule = True
        self._save()

    def _start_registry(self) -> None:
        why = regmod.available()
        if why:
            raise RuntimeError(why)
        root = self.root / "images"
        images = imgbuild.build(root)
        paths = regmod.tls(root)
        conf = self.dir / "registry.yml"
        own = regmod.storage(root, self.dir / "registry")
        conf.write_text(regmod.config(own, f"{self.gateway}:{regmod.PORT}", paths))
        self.serve("registry", [regmod.BINARY, "serve", str(conf)], regmod.PORT)
        regmod.push_all(images, root, self.gateway, paths["ca"])
        self.images = {i.ref: i.digest for i in images}
        self.ca = paths["ca"]
        self._save()

    def _start_apt_proxy(self) -> None:
        conf = self.dir / "acng-conf"
        shutil.copytree("/etc/apt-cacher-ng", conf)
        # the stock Debian backend is ftp.debian.org, which does not resolve here
        (conf / "backends_debian").write_text("http://deb.debian.org/debian/\n")
        cache = self.root / "acng-cache" / f"slot-{self.slot}"   # persists between runs
        (cache / "log").mkdir(parents=True, exist_ok=True)
        self.serve("apt-cacher-ng", [
            "/usr/sbin/apt-cacher-ng", "-c", str(conf), "ForeGround=1",
            f"BindAddress={self.gateway}", f"Port={APT_PROXY_PORT}", f"CacheDir={cache}",
            f"LogDir={cache / 'log'}", f"PidFile={self.dir / 'acng.pid'}",
            f"SocketPath={self.dir / 'acng.socket'}", "ExThreshold=30"], APT_PROXY_PORT)

    # ---------------- hosts ----------------
    def add(self, n: int = 1, prefix: str = "gpu", sim: dict | None = None,
            wait: bool = True, timeout: float = 60, docker: bool = False) -> list[Host]:
        """Start n hosts named <prefix>-NN; sim is merged over the default /etc/gonkasim/sim.json.
        docker=True: Docker Engine and Compose preinstalled and started, as on a server that
        has them (tests that are not about installing them). Returns once each answers SSH
        (wait=True; with docker, once each dockerd answers)."""
        new: list[Host] = []
        if docker and self.docker_base is None:
            self.docker_base, _ = basemod.ensure_base(self.root, docker=True)
            self._save()
        try:
            for _ in range(n):
                new.append(self._launch(prefix, sim or {}, docker))
            for h in new:
                pidfile = Path(h.dir) / "init.pid"
                proc = self._procs[h.name]
                deadline = time.monotonic() + 15
                while not pidfile.exists():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{h.name} failed to start:\n"
                                           f"{(Path(h.dir) / 'log').read_text()[-3000:]}")
                    time.sleep(0.01)
                h.pid = int(pidfile.read_text())
            self._save()
            if wait:
                for h in new:
                    proc = self._procs[h.name]
                    try:
                        wait_tcp(h.address, h.port, timeout, banner=b"SSH-",
                                 alive=lambda p=proc: p.poll() is None)
                    except (RuntimeError, TimeoutError) as e:
                        raise RuntimeError(f"{h.name}: {e}\n"
                                           f"{(Path(h.dir) / 'log').read_text()[-3000:]}"
                                           ) from e
                for h in new:
                    if h.docker:
                        start_docker(h)
        except BaseException:
            self.remove(new)
            raise
        return new

    def _launch(self, prefix: str, sim: dict, docker: bool = False) -> Host:
        used = {h.idx for h in self.hosts}
        idx = next((i for i in range(1, MAX_HOSTS + 1) if i not in used), None)
        if idx is None:
            raise RuntimeError(f"at most {MAX_HOSTS} hosts per fleet")
        name = f"{prefix}-{idx:02d}"
        hdir = self.dir / "hosts" / name
        shutil.rmtree(hdir, ignore_errors=True)
        (hdir / "upper").mkdir(parents=True)
        net = "127.77" if self.mode == "lo" else "169.254"
        h = Host(name=name, idx=idx, address=f"{net}.{self.slot}.{10 + idx}", port=22,
                 dir=str(hdir), key=str(self.key), docker=docker)
        self.hosts.append(h)
        self._save()
        try:
            self._seed(h, sim)
            lower = self.docker_base if docker else self.base
            env = dict(os.environ, SB_NAME=name, SB_LOWER=str(lower), SB_DIR=str(hdir),
                       SB_GW=self.gateway, SB_PORT=str(h.port),
                       SB_ADDR=h.address if self.mode == "lo" else "0.0.0.0")
            if self.images:
                env["SB_REGISTRY_NAMES"] = " ".join(catalog.REGISTRY_HOSTS)
            if self.disk_size:
                img = hdir / "disk.img"
                sh("truncate", "-s", self.disk_size, img)
                h.disk = sh("losetup", "-f", "--show", img).stdout.strip()
                h.disk_name = "/dev/vdb"
                self._save()
                env.update(SB_DISK=h.disk, SB_DISK_NAME="vdb")
            argv = ["unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child",
                    str(HOST_INIT)]
            if self.mode != "lo":
                h.netns, h.veth = f"gs{self.slot}-h{idx}", f"gs{self.slot}-v{idx}"
                self._save()
                sh("ip", "link", "del", h.veth, check=False)     # a slow-dying earlier one
                sh("ip", "netns", "add", h.netns)
                sh("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0",
                   "netns", h.netns)
                sh("ip", "link", "set", h.veth, "master", self.bridge, "up")
                sh("ip", "-n", h.netns, "addr", "add", f"{h.address}/24", "dev", "eth0")
                sh("ip", "-n", h.netns, "link", "set", "eth0", "up")
                sh("ip", "-n", h.netns, "link", "set", "lo", "up")
                if self.mode == "nspawn":
                    env.update(SB_NETNS=h.netns, SB_MACHINE=f"gs{self.slot}-{name}")
                    argv = ["unshare", "--mount", "--propagation", "private", str(HOST_NSPAWN)]
                else:
                    argv = ["ip", "netns", "exec", h.netns, *argv]
            with open(hdir / "log", "wb") as log:
                self._procs[name] = subprocess.Popen(
                    argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            self.remove([h])
            raise
        return h

    def _seed(self, h: Host, sim: dict) -> None:
        """Files in the host's upper layer before it starts (other helpers write the sources
        in parallel, so a missing source dir is skipped)."""
        upper = h.upper
        dirs = self.seed_dirs or {"gonkasim": SANDBOX / "gonkasim", "shims": SANDBOX / "shims"}
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        src = Path(dirs.get("gonkasim") or "/nonexistent")
        if src.is_dir():
            shutil.copytree(src, upper / "opt/gonkasim/gonkasim", ignore=ignore)
        shims = Path(dirs.get("shims") or "/nonexistent")
        if shims.is_dir():
            for p in sorted(shims.iterdir()):
                if not p.is_file() or p.suffix == ".pyc":
                    continue
                rel = ("opt/gonkasim/images/api/bin/inferenced" if p.name == "inferenced"
                       else f"usr/local/bin/{p.name}")
                _put(upper / rel, p.read_bytes(), 0o755)
        _put(upper / "etc/default/docker", (HOSTFILES / "default-docker").read_bytes(), 0o644)
        # Each host's dockerd puts its containers' cgroups under its own parent, so teardown
        # finds (and removes) exactly this host's, and runs them with a runc that gives every
        # container the host's simulation settings (shims/sandbox-runc).
        daemon = {"cgroup-parent": cgroup_parent(self.slot, h.name),
                  "runtimes": {"sandbox-runc": {"path": "/usr/local/bin/sandbox-runc"}},
                  "default-runtime": "sandbox-runc"}
        _put(upper / "etc/docker/daemon.json", json.dumps(daemon, indent=1) + "\n", 0o644)
        settings = {**DEFAULT_SIM, "seed_api_url": f"http://{self.gateway}:18000", **sim}
        _put(upper / "etc/gonkasim/sim.json", json.dumps(settings, indent=1) + "\n", 0o644)
        if self.apt_proxy:
            _put(upper / "etc/apt/apt.conf.d/01sandbox-proxy",
                 f'Acquire::http::Proxy "http://{self.gateway}:{APT_PROXY_PORT}";\n', 0o644)
        self._seed_trust(upper)
        if self.ca:              # dockerd trusts the sandbox registry under each registry name
            for name in catalog.REGISTRY_HOSTS:
                _put(upper / "etc/docker/certs.d" / name / "ca.crt", self.ca.read_bytes(), 0o644)
        if self.mode == "lo":       # shared network: the machine's resolver works
            _put(upper / "etc/resolv.conf", Path("/etc/resolv.conf").read_bytes(), 0o644)

    def _seed_trust(self, upper: Path) -> None:
        """Hosts trust the extra CAs the machine trusts (a TLS-inspecting egress on the
        machine's network would otherwise break pip through the egress proxy), and the sandbox
        CA of the registry: dockerd checks Docker Hub's certificate against the system store
        only (certs.d is not read for docker.io)."""
        extra = [(crt.name, crt.read_bytes())
                 for crt in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))]
        if self.ca:
            extra.append(("gonka-sandbox-registry.crt", self.ca.read_bytes()))
        if not extra:
            return
        bundle = (self.base / "etc/ssl/certs/ca-certificates.crt").read_bytes()
        for name, pem in extra:
            _put(upper / "usr/local/share/ca-certificates" / name, pem, 0o644)
            bundle += pem if pem.endswith(b"\n") else pem + b"\n"
        _put(upper / "etc/ssl/certs/ca-certificates.crt", bundle, 0o644)
        # pip in a venv uses its own certifi bundle unless told otherwise
        _put(upper / "etc/pip.conf", "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n",
             0o644)

    def remove(self, hosts: list[Host]) -> None:
        """Stop and delete these hosts: PID 1, loop device, veth, netns, files."""
        if not hosts:
            return
        procs = [self._procs.pop(h.name) for h in hosts if h.name in self._procs]
        stop_hosts(self.mode, [asdict(h) for h in hosts], procs, slot=self.slot)
        names = {h.name for h in hosts}
        self.hosts = [h for h in self.hosts if h.name not in names]
        if self.dir is not None:
            self._save()


DOCKER_START_TIMEOUT = 60


def start_docker(h: Host, timeout: float = DOCKER_START_TIMEOUT) -> None:
    """Start a host's dockerd with Debian's init script (what boot does on a server) and wait,
    bounded, until it answers."""
    h.run(f"service docker start >/dev/null && deadline=$(( $(date +%s) + {int(timeout)} )) && "
          "until docker info >/dev/null 2>&1; do [ $(date +%s) -lt $deadline ] || "
          "{ tail -20 /var/log/docker.log >&2; exit 1; }; sleep 0.1; done",
          timeout=timeout + 30)


def forward_rule(action: str, bridge: str) -> list[str]:
    """iptables arguments that add (-I) or delete (-D) the ACCEPT rule for a sandbox bridge."""
    return [action, "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def _put(path: Path, content: bytes | str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    path.chmod(mode)


def cgroup_parent(slot: int, name: str) -> str:
    """The cgroup (in every v1 hierarchy) under which a host's dockerd puts its containers."""
    return f"gonka-sandbox-{slot}-{name}"


def cgroup_dirs(slot: int, name: str) -> list[Path]:
    """The cgroup directories a host's dockerd made on the machine (one per hierarchy)."""
    return sorted(CGROUP_ROOT.glob(f"*/{cgroup_parent(slot, name)}"))


def remove_cgroups(slot: int, name: str) -> None:
    """rmdir a dead host's cgroups, deepest first (a cgroup with children or tasks stays; its
    processes died with the host's PID namespace, which the kernel may take a moment over)."""
    for top in cgroup_dirs(slot, name):
        deadline = time.monotonic() + 5
        while top.exists():
            dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in [*dirs, top]:
                try:
                    d.rmdir()
                except OSError:
                    pass
            if not top.exists() or time.monotonic() > deadline:
                break
            time.sleep(0.05)


def _loop_gone(dev: str) -> bool:
    return not Path(f"/sys/block/{Path(dev).name}/loop/backing_file").exists()


def stop_hosts(mode: str, hosts: list[dict], procs=(), slot: int | None = None) -> None:
    for h in hosts:
        pid = h.get("pid")
        if not pid:
            continue
        if mode == "nspawn" and pid_alive(pid):
            # nspawn: the 1st TERM starts a clean halt, a 2nd one terminates at once
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 0.5
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        kill_tree(pid, group=False)
    for p in procs:              # reap our own unshare children, so no zombies are left
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for h in hosts:
        if h.get("disk"):
            sh("losetup", "-d", h["disk"], check=False)
        if h.get("veth"):        # delete now: a netns dies asynchronously, its veth later
            sh("ip", "link", "del", h["veth"], check=False)
        if h.get("netns"):
            sh("ip", "netns", "del", h["netns"], check=False)
    # losetup -d on a device still held by a dying mount namespace only sets autoclear
    deadline = time.monotonic() + 5
    for h in hosts:
        while h.get("disk") and not _loop_gone(h["disk"]) and time.monotonic() < deadline:
            time.sleep(0.02)
            sh("losetup", "-d", h["disk"], check=False)
        if slot is not None:
            remove_cgroups(slot, h["name"])
        shutil.rmtree(h["dir"], ignore_errors=True)


def teardown(rundir: Path, procs=()) -> None:
    """Tear down the fleet recorded in rundir/state.json (by PID only) and free its slot."""
    try:
        state = json.loads((rundir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        state = None
    if state:
        stop_hosts(state["mode"], state["hosts"], slot=state["slot"])
        for pid in state.get("services", {}).values():
            kill_tree(pid, group=True)
        for p in procs:          # reap what this process started: no zombies left behind
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if state.get("bridge"):
            if state.get("forward_rule"):
                sh("iptables", *forward_rule("-D", state["bridge"]), check=False)
            sh("ip", "link", "del", state["bridge"], check=False)
        slot = state["slot"]
    else:
        slot = rundir.name.removeprefix("slot-")
    shutil.rmtree(rundir, ignore_errors=True)
    shutil.rmtree(CLAIMS / f"slot-{slot}", ignore_errors=True)


def gc(root: Path | None = None) -> int:
    """Tear down every fleet whose owning process is gone (crashed run, kill -9)."""
    root = Path(root or basemod.sandbox_dir())
    n = 0
    if CLAIMS.is_dir():
        for claim in sorted(CLAIMS.glob("slot-*")):
            try:
                token = (claim / "owner").read_text()
                rundir = Path((claim / "rundir").read_text())
            except (FileNotFoundError, ValueError):
                if time.time() - claim.stat().st_mtime > 60:    # not being claimed right now
                    shutil.rmtree(claim, ignore_errors=True)
                continue
            if owner_alive(token):
                continue
            teardown(rundir)
            n += 1
    for rundir in sorted((root / "run").glob("slot-*")):   # run dirs whose claim is gone
        if (CLAIMS / rundir.name).exists():
            continue
        try:
            token = json.loads((rundir / "state.json").read_text())["owner"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            token = ""
        if not owner_alive(token):
            teardown(rundir)
            n += 1
    return n
