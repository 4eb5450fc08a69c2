"""The served profile for a load benchmark, started over loopback by the benchmark itself: a
scratch PostgreSQL database, Redis db 9 (no test or other bench uses it; flushed at the start),
and daphne as two processes on one port.

daphne has no --workers flag, so the benchmark opens one listening socket per process, all on
the same port with SO_REUSEPORT, and hands each to its daphne (`daphne --fd N`, kept open in
the child with `pass_fds`). The kernel spreads new connections over the sockets by a hash of
their addresses, as a load balancer would, and every client talks to one address. (One socket
shared by both processes, the other way, let whichever process woke first take nearly every
connection: 46 of 50 clients on one daphne while the other idled.) The benchmarks print how
many connections each process holds and the CPU each used.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scratch_db import drop_database, recreate_database

REPO = Path(__file__).resolve().parents[1]
SERVER = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/9"
PROFILE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def raise_open_files(wanted: int) -> int:
    """Lift the soft limit on open descriptors towards `wanted` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def served_environment(database: str, **extra: str) -> dict[str, str]:
    """What the bench process and the servers run with (`extra` wins, e.g. CONN_MAX_AGE)."""
    env = {key: value for key, value in os.environ.items() if key not in PROFILE_VARIABLES}
    return {**env, "DATABASE_URL": f"{SERVER}/{database}", "REDIS_URL": REDIS,
            "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "MARKET_STREAMS_ENABLED": "false",
            "CONN_MAX_AGE": "0", "DATABASE_POOL": os.environ.get("DATABASE_POOL", "true"),
            "LOG_LEVEL": "WARNING", **extra}


def setup_django(database: str, **extra: str) -> dict[str, str]:
    """Create the scratch database, point this process at it, migrate, empty Redis db 9.
    Returns the environment for the servers (VAR_DIR shared, so they sign sessions with the
    same generated secret key as this process)."""
    recreate_database(SERVER, database)
    env = served_environment(database, VAR_DIR=tempfile.mkdtemp(prefix=f"{database}-"), **extra)
    for variable in PROFILE_VARIABLES:
        os.environ.pop(variable, None)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cache.clear()  # FLUSHDB on db 9: no throttle counts or channel groups left over
    return env


def teardown(database: str) -> None:
    from django.core.cache import cache

    cache.clear()  # throttle counts and channel-layer keys
    drop_database(SERVER, database)
    shutil.rmtree(os.environ.get("VAR_DIR", ""), ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_links(pid: int) -> list[str]:
    """What a process's descriptors point at; one closed while reading is left out."""
    folder, links = Path(f"/proc/{pid}/fd"), []
    for name in os.listdir(folder):
        try:
            links.append(os.readlink(folder / name))
        except OSError:
            continue
    return links


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process), from
    /proc/stat: what the servers, PostgreSQL, Redis and the clients took together, and anything
    else running."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def redis_counters() -> dict[str, float]:
    import redis

    info = redis.Redis.from_url(REDIS).info()
    return {"redis cpu": cpu_seconds(int(info["process_id"])),
            "redis commands": float(info["total_commands_processed"]),
            "redis connections": float(info["total_connections_received"])}


def postgres_counters(database: str) -> dict[str, float]:
    """PostgreSQL's own statistics for the database: sessions opened and time spent executing
    statements (a backend's CPU cannot be read from outside once its session has ended)."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        sessions, active_ms, commits = admin.execute(
            "SELECT sessions, active_time, xact_commit FROM pg_stat_database "
            "WHERE datname = %s", [database]).fetchone()
    return {"postgres sessions": float(sessions), "postgres active": active_ms / 1000,
            "postgres commits": float(commits)}


@dataclass
class Daphnes:
    processes: list[subprocess.Popen]
    listeners: list[socket.socket]
    log: Path

    @property
    def port(self) -> int:
        return self.listeners[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def connections(self) -> list[tuple[int, int]]:
        """For each daphne: the client connections it accepted (how the kernel shared them
        out) and the other sockets it holds open (PostgreSQL, Redis)."""
        accepted = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == self.port and fields[3] == "01":
                accepted.add(fields[9])  # ESTABLISHED on the server's port; the inode
        counts = []
        for process in self.processes:
            inodes = [link[8:-1] for link in fd_links(process.pid) if link.startswith("socket:[")]
            clients = sum(inode in accepted for inode in inodes)
            counts.append((clients, len(inodes) - clients))
        return counts

    def counters(self, database: str) -> dict[str, float]:
        """CPU seconds of each daphne and of this process (the clients), Redis's CPU and
        counts, PostgreSQL's counts for the database, and the time: `usage_report` takes two."""
        counters = {f"daphne {n + 1}": cpu_seconds(p.pid) for n, p in enumerate(self.processes)}
        counters["bench client"] = cpu_seconds(os.getpid())
        counters["whole machine"] = machine_busy_seconds()
        return {**counters, **redis_counters(), **postgres_counters(database),
                "wall": time.perf_counter()}


def usage_report(since: dict[str, float], until: dict[str, float], work: int,
                 unit: str) -> dict[str, str]:
    """Cores used by each process between two `counters`, and PostgreSQL's and Redis's work
    per `unit`. Redis's counts are the whole server's (another user of it shows up here too).
    PostgreSQL's are the database's, as its backends report them: at the end of a session, or
    at most once a second while busy; an idle backend's last figures arrive up to 10 s late."""
    used = {name: until[name] - since[name] for name in until}
    wall, per = used["wall"], max(1, work)
    cores = ", ".join(f"{name} {used[name] / wall:.2f}" for name in used
                      if name.startswith("daphne") or name in ("redis cpu", "bench client"))
    daphnes = sum(used[name] for name in used if name.startswith("daphne"))
    return {"daphne ms": daphnes * 1000, "machine ms": used["whole machine"] * 1000,
            "cores": f"cores used (CPU s per wall s): {cores}; the whole machine "
                     f"{used['whole machine'] / wall:.2f} of {os.cpu_count()}",
            "postgres": f"PostgreSQL: {used['postgres sessions']:.0f} sessions opened "
                        f"({used['postgres sessions'] / per:.2f} per {unit}), "
                        f"{used['postgres commits'] / per:.2f} transactions per {unit}, "
                        f"executing statements {used['postgres active'] / wall:.2f} of the time",
            "redis": f"Redis: {used['redis commands'] / per:.1f} commands and "
                     f"{used['redis connections'] / per:.2f} connections opened per {unit}"}


def start_daphnes(env: dict[str, str], count: int = 2, backlog: int = 4096,
                  timeout: float = 60) -> Daphnes:
    listeners = reuseport_listeners(count, backlog)
    log = Path(env["VAR_DIR"]) / "daphne.log"
    daphne = Path(sys.executable).with_name("daphne")
    with log.open("ab") as output:
        processes = [subprocess.Popen(
            [str(daphne), "--fd", str(listener.fileno()), "-v", "0",
             "tradingsite.asgi:application"],
            cwd=REPO, env=env, pass_fds=(listener.fileno(),), stdout=output,
            stderr=subprocess.STDOUT)
            for listener in listeners]
    servers = Daphnes(processes=processes, listeners=listeners, log=log)
    deadline = time.monotonic() + timeout
    while not healthy(servers.url):
        if not servers.alive() or time.monotonic() > deadline:
            stop_daphnes(servers)
            raise RuntimeError(f"daphne did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return servers


def reuseport_listeners(count: int, backlog: int) -> list[socket.socket]:
    """`count` listening sockets on one free loopback port (SO_REUSEPORT)."""
    listeners, port = [], 0
    for _ in range(count):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(backlog)
        port = listener.getsockname()[1]
        listeners.append(listener)
    return listeners


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop_daphnes(servers: Daphnes, timeout: float = 20) -> None:
    for process in servers.processes:
        if process.poll() is None:
            process.terminate()
    for process in servers.processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for listener in servers.listeners:
        listener.close()


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
