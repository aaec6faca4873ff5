"""1,000 tracked batch servers: what the hub costs at a center's scale.

The run has a testbed of its own (project ``scale``: testbed.yaml plus 100 users
``bench000``..``bench099``, a partition ``scale`` on c[1-3] with ``OverSubscribe=FORCE:6`` and
a profile ``standin``); the main testbed's containers are stopped meanwhile and started
again after. Each of the 1,000 servers is a real spawn through the hub's REST API, hpchub's
ProfilesSpawner and SlurmSpawner, and a real Slurm batch job submitted through slurmrestd as
its user. In the job, ``hpchub-singleuser`` picks a port and reports it to the hub as for any
server, then execs the stand-in server: ``busybox httpd`` (JupyterHub takes any HTTP answer
for "up"; about 1 MB per server instead of JupyterLab's 150 MB). Internal SSL is off, as the
stand-in speaks plain HTTP.

Reported (with 1,000 servers ready): the poller's cycle and slurmctld's job-info RPCs per
minute; hub RSS and CPU before and after; hub API p50/p99 while 100 users load their home
page; the proxy's route count and the latency it adds per request; the profile page with the
Slurm associations cache cold and warm; the time for a restarted hub to re-attach all
servers; and hub API traffic of 100 servers' users with PostgreSQL against SQLite.

    .venv/bin/python benchmarks/scale.py [--servers 1000] [--window 120] [--keep] [--profile FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import requests
import yaml

from hpchub.containers.testbed import STATE_ROOT, from_site

USERS = 100
PORT = 8100  # the scale hub's published port (the main testbed's is 8000)
STANDIN = r'p=${JUPYTERHUB_SERVICE_URL##*:}; p=${p%%/*}; mkdir -p /tmp/standin; ' \
          r'exec busybox httpd -f -p "$p" -h /tmp/standin'
HUB_EXTRA = f"""\
# benchmarks/scale.py: every server runs the stand-in after hpchub-singleuser's port report.
c.Spawner.cmd = ["sh", "-c", {STANDIN!r}]
c.JupyterHub.concurrent_spawn_limit = 200
c.JupyterHub.internal_ssl = False
c.Authenticator.admin_users = {{"bench000"}}
"""


def scale_site() -> Path:
    """testbed.yaml with the benchmark's users, partition and profile."""
    site = yaml.safe_load(resources.files("hpchub.site_configs").joinpath("testbed.yaml").read_text())
    site["name"] = "scale"
    site["users"] += [{"name": f"bench{i:03d}", "uid": 3000 + i, "full_name": f"Bench {i:03d}"}
                      for i in range(USERS)]
    site["partitions"].append({"name": "scale", "nodes": "c[1-3]", "max_time": "12:00:00",
                               "oversubscribe": 6, "description": "benchmark stand-ins"})
    site["profiles"].append({"name": "standin", "display_name": "Benchmark stand-in",
                             "description": "busybox httpd in a batch job", "kind": "slurm",
                             "partition": "scale", "time": "03:00:00", "pending_timeout_s": 3600})
    site["hub"].update({"max_pending_spawns_per_user": 10,
                        "orphan_check_interval_s": 60, "orphan_min_age_s": 600})
    path = STATE_ROOT / "scale-site.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


def latency(values: list[float]) -> dict:
    return {"p50": round(1000 * pct(values, .5)), "p99": round(1000 * pct(values, .99)), "n": len(values)}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Hub:
    """The scale hub's API with bench000's (admin) token."""

    def __init__(self, bed, base: str):
        self.bed, self.base = bed, base
        self.password = bed.secrets()["demo_password"]
        session = self.login("bench000")
        token = session.post(f"{base}/hub/api/users/bench000/tokens", json={"expires_in": 14400},
                             headers={"X-XSRFToken": session.cookies.get("_xsrf")}, timeout=60)
        token.raise_for_status()
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {token.json()['token']}"

    def login(self, user: str) -> requests.Session:
        session = requests.Session()
        session.get(f"{self.base}/hub/login", timeout=60)
        done = session.post(f"{self.base}/hub/login", allow_redirects=False, timeout=120, data={
            "username": user, "password": self.password, "_xsrf": session.cookies.get("_xsrf")})
        assert done.status_code == 302, f"login of {user}: {done.status_code}"
        return session

    def servers(self) -> dict[str, dict]:
        """Every server of every user, by ``user/name`` (all pages)."""
        found, offset = {}, 0
        while True:
            page = self.api.get(f"{self.base}/hub/api/users", params={"offset": offset, "limit": 200},
                                headers={"Accept": "application/jupyterhub-pagination+json"},
                                timeout=120).json()
            for user in page["items"]:
                for name, server in (user.get("servers") or {}).items():
                    found[f"{user['name']}/{name}"] = server
            offset += len(page["items"])
            if not page["items"] or offset >= page["_pagination"]["total"]:
                return found

    def ready_count(self) -> tuple[int, int]:
        servers = self.servers()
        return sum(1 for s in servers.values() if s.get("ready")), len(servers)


def hub_process(bed) -> tuple[int, float]:
    """(RSS in MB, CPU seconds so far) of the JupyterHub process."""
    out = bed.exec("hub", "sh", "-c", "pid=$(pgrep -f -o 'bin/jupyterhub -f'); "
                   "echo $(ps -o rss= -p $pid) $(cut -d' ' -f14,15 /proc/$pid/stat)").output.split()
    return int(out[0]) // 1024, (int(out[1]) + int(out[2])) / 100


def job_info_rpcs(bed) -> int:
    out = bed.exec("slurmctld", "sdiag").output
    return sum(int(m) for m in re.findall(r"^\s*REQUEST_JOB_INFO\w*\s+\(\s*\d+\)\s+count:(\d+)", out, re.M))


def poller_metrics(bed, hub: Hub) -> tuple[float, float, float]:
    """(sum, count, count within 1 s) of hpchub_poller_latency_seconds from /hub/metrics."""
    token = bed.exec("hub", "cat", "/srv/hpchub/prometheus-token").output.strip()
    text = requests.get(f"{hub.base}/hub/metrics", headers={"Authorization": f"token {token}"},
                        timeout=60).text
    value = {name: float(v) for name, v in re.findall(
        r'^hpchub_poller_latency_seconds_(sum|count|bucket\{le="1\.0"\}) ([0-9.e+]+)$', text, re.M)}
    return value.get("sum", 0.0), value.get("count", 0.0), value.get('bucket{le="1.0"}', 0.0)


def profiled(bed, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy sampling the hub process (seen from this host) for ``seconds``, as collapsed
    stacks in ``out``."""
    top = bed.container("hub").top(ps_args="-eo pid,args")
    pid = next(row[0] for row in top["Processes"] if "bin/jupyterhub -f" in row[1])
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def hot_spots(stacks: Path, top: int = 15) -> list[tuple[str, float]]:
    """Share of samples in which each function of the hub's own code or its packages is on
    the stack (inclusive), largest first."""
    counts: dict[str, int] = {}
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, n = line.rpartition(" ")
        total += int(n)
        for frame in {re.sub(r":\d+\)$", ")", f) for f in frames.split(";")}:
            counts[frame] = counts.get(frame, 0) + int(n)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [(frame, round(100 * n / max(1, total), 1)) for frame, n in ranked[:top]]


def spawn_all(hub: Hub, names: list[tuple[str, str]], timeout: float) -> float:
    """Ask for every server (retrying 429s), wait until all are ready; seconds it took."""
    started = time.monotonic()

    def ask(user_server: tuple[str, str]) -> None:
        user, server = user_server
        while True:
            done = hub.api.post(f"{hub.base}/hub/api/users/{user}/servers/{server}",
                                json={"profile": "standin"}, timeout=300)
            if done.status_code != 429:
                assert done.status_code in (201, 202), f"{user}/{server}: {done.status_code} {done.text}"
                return
            time.sleep(2)

    with ThreadPoolExecutor(40) as pool:
        list(pool.map(ask, names))
    while True:
        ready, total = hub.ready_count()
        print(f"  {time.monotonic() - started:6.0f} s: {ready} ready of {total}", flush=True)
        if ready >= len(names):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {ready} of {len(names)} servers ready after {timeout:.0f} s")
        time.sleep(15)


HOME_LOAD = r'''
import json, sys, threading, time, requests
base, password, users, token = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
sessions = {}
for user in users:
    s = requests.Session(); s.get(base + "/hub/login")
    r = s.post(base + "/hub/login", data={"username": user, "password": password,
               "_xsrf": s.cookies.get("_xsrf")}, allow_redirects=False)
    assert r.status_code == 302, (user, r.status_code)
    sessions[user] = s
api, samples, homes, stop = requests.Session(), [], [], threading.Event()
api.headers["Authorization"] = "token " + token
def probe():
    while not stop.is_set():
        t = time.perf_counter(); api.get(base + "/hub/api/users/bench000", timeout=60)
        samples.append(time.perf_counter() - t); time.sleep(0.1)
def load(user):
    for _ in range(5):
        t = time.perf_counter(); r = sessions[user].get(base + "/hub/home", timeout=120)
        assert r.status_code == 200, r.status_code
        homes.append(time.perf_counter() - t)
threading.Thread(target=probe, daemon=True).start()
time.sleep(1)
threads = [threading.Thread(target=load, args=(u,)) for u in users]
for th in threads: th.start()
for th in threads: th.join()
stop.set(); time.sleep(0.2)
print(json.dumps({"api": samples, "home": homes}))
'''

PROXY_LATENCY = r'''
import json, sys, time, requests
routes, n = json.loads(sys.argv[1]), int(sys.argv[2])
def timed(url):
    s, out = requests.Session(), []
    for _ in range(n):
        t = time.perf_counter(); s.get(url, timeout=30); out.append(time.perf_counter() - t)
    return sorted(out)[len(out) // 2]
via, direct = [], []
for prefix, target in routes:
    via.append(timed("http://127.0.0.1:8000" + prefix))
    direct.append(timed(target + prefix))
print(json.dumps({"via": via, "direct": direct}))
'''


def proxy_routes(bed) -> dict:
    environ = "/proc/$(pgrep -f -o configurable-http-proxy)/environ"
    token = bed.exec("hub", "sh", "-c", f"tr '\\0' '\\n' < {environ} | "
                     "sed -n 's/^CONFIGPROXY_AUTH_TOKEN=//p'", user="jupyterhub").output.strip()
    out = bed.exec("hub", "curl", "-s", "-H", f"Authorization: token {token}",
                   "http://127.0.0.1:8001/api/routes").output
    return json.loads(out)


def profile_page(hub: Hub, users: list[str]) -> tuple[list[float], list[float]]:
    """Seconds to render each user's profile page: first (associations not cached) and again."""
    cold, warm = [], []
    for user in users:
        session = hub.login(user)
        for out in (cold, warm):
            started = time.perf_counter()
            page = session.get(f"{hub.base}/hub/spawn/{user}", timeout=120)
            out.append(time.perf_counter() - started)
            assert page.status_code == 200 and 'name="profile"' in page.text, page.status_code
    return cold, warm


DB_TRAFFIC = r'''
import json, os, subprocess, sys, time, requests
db_url, port = sys.argv[1], sys.argv[2]
token = os.urandom(16).hex()
cfg = f"""
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{int(port) + 1}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{int(port) + 2}"
c.ConfigurableHTTPProxy.pid_file = "/tmp/dbbench-{port}.pid"
c.JupyterHub.cookie_secret_file = "/tmp/dbbench-{port}.secret"
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.authenticator_class = "null"
c.JupyterHub.services = [{{"name": "bench", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "bench", "services": ["bench"],
                             "scopes": ["admin:users", "list:users", "read:users", "users:activity"]}}]
"""
open(f"/tmp/dbbench-{port}.py", "w").write(cfg)
log = open(f"/tmp/dbbench-{port}.log", "w+")
hub = subprocess.Popen(["jupyterhub", "-f", f"/tmp/dbbench-{port}.py"], stdout=log,
                       stderr=subprocess.STDOUT, cwd="/tmp")
base, api = f"http://127.0.0.1:{port}/hub/api", requests.Session()
api.headers["Authorization"] = "token " + token
try:
    for _ in range(120):
        try:
            if api.get(base + "/", timeout=2).ok: break
        except requests.ConnectionError: pass
        if hub.poll() is not None:
            log.seek(0); sys.exit("the benchmark's hub exited:\n" + log.read()[-3000:])
        time.sleep(0.5)
    names = [f"user{i:03d}" for i in range(100)]
    api.post(base + "/users", json={"usernames": names}).raise_for_status()
    lat = {"activity": [], "user": [], "list": []}
    end = time.monotonic() + 30
    while time.monotonic() < end:  # what 100 servers and their users' pages do
        for name in names:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            t = time.perf_counter()
            api.post(base + f"/users/{name}/activity", json={"last_activity": now})
            lat["activity"].append(time.perf_counter() - t)
            t = time.perf_counter()
            api.get(base + f"/users/{name}")
            lat["user"].append(time.perf_counter() - t)
        t = time.perf_counter(); api.get(base + "/users"); lat["list"].append(time.perf_counter() - t)
    print(json.dumps(lat))
finally:
    hub.terminate(); hub.wait(30)
'''


def db_traffic(bed) -> dict[str, dict]:
    """The same API traffic against a hub on PostgreSQL and one on SQLite (in the hub container)."""
    password = bed.exec("hub", "cat", "/etc/hpchub/hub-db-password").output.strip()
    bed.exec("postgres", "runuser", "-u", "postgres", "--", "psql", "-h", "/run/postgresql", "-q", "-c",
             "DROP DATABASE IF EXISTS dbbench")
    bed.exec("postgres", "runuser", "-u", "postgres", "--", "createdb", "-h", "/run/postgresql",
             "-O", "jupyterhub", "dbbench")
    hba = "/var/lib/postgresql/hpchub/data/pg_hba.conf"
    bed.exec("postgres", "sh", "-c", f"grep -q dbbench {hba} || echo 'host dbbench jupyterhub 0.0.0.0/0 "
             f"scram-sha-256' >> {hba}")
    bed.exec("postgres", "runuser", "-u", "postgres", "--", "psql", "-h", "/run/postgresql", "-q", "-c",
             "SELECT pg_reload_conf()")
    bed.exec("hub", "rm", "-f", "/tmp/dbbench.sqlite")
    results = {}
    postgres = f"postgresql+psycopg://jupyterhub:{password}@postgres/dbbench"
    for label, url, port in (("postgresql", postgres, "8300"),
                             ("sqlite", "sqlite:////tmp/dbbench.sqlite", "8310")):
        done = bed.exec("hub", "python3", "-c", DB_TRAFFIC, url, port, user="jupyterhub")
        if not done.ok:
            raise RuntimeError(done.output[-2000:])
        results[label] = json.loads(done.output.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120)
    parser.add_argument("--keep", action="store_true",
                        help="leave the scale testbed up (and the main one stopped) after")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the hub with py-spy (on PATH) while 100 users load their "
                             "home pages; collapsed stacks to FILE, hot spots printed")
    args = parser.parse_args()
    main_bed = from_site("testbed")
    for container in main_bed.cli.containers.list(filters={"label": "hpchub.project=hpchub"}):
        container.stop(timeout=10)  # memory and CPU for the scale testbed
    bed = from_site(scale_site(), project="scale", hub_port=PORT, hub_extra_config=HUB_EXTRA)
    try:
        run(bed, args)
    finally:
        if not args.keep:
            bed.down()
            main_bed.up(build=False)


def run(bed, args) -> None:
    started = time.monotonic()
    bed.down()  # a hub database without servers of an earlier run
    bed.up()
    print(f"scale testbed up in {time.monotonic() - started:.0f} s", flush=True)
    hub = Hub(bed, f"http://127.0.0.1:{PORT}")
    rss_before, _ = hub_process(bed)
    names = [(f"bench{i % USERS:03d}", f"s{i // USERS}") for i in range(args.servers)]
    created = hub.api.post(f"{hub.base}/hub/api/users", timeout=120,
                           json={"usernames": [f"bench{i:03d}" for i in range(1, USERS)]})
    assert created.status_code in (201, 409), created.text
    print(f"spawning {len(names)} servers", flush=True)
    spawn_s = spawn_all(hub, names, timeout=3600)
    print(f"all {len(names)} ready after {spawn_s:.0f} s", flush=True)
    time.sleep(30)  # settle: every spawner polling, no spawn in progress

    bed.exec("slurmctld", "sdiag", "-r")
    rpcs, (poll_sum, poll_n, poll_fast) = job_info_rpcs(bed), poller_metrics(bed, hub)
    _, cpu_before = hub_process(bed)
    time.sleep(args.window)
    rss_after, cpu_after = hub_process(bed)
    rpcs_min = (job_info_rpcs(bed) - rpcs) * 60 / args.window
    poll_sum2, poll_n2, poll_fast2 = poller_metrics(bed, hub)
    cycle = (poll_sum2 - poll_sum) / max(1, poll_n2 - poll_n)
    slow_cycles = int((poll_n2 - poll_n) - (poll_fast2 - poll_fast))
    cpu_pct = 100 * (cpu_after - cpu_before) / args.window

    stacks = Path(args.profile) if args.profile else None
    spy = profiled(bed, 25, stacks) if stacks else None
    load = bed.exec("hub", "python3", "-c", HOME_LOAD, "http://127.0.0.1:8000", hub.password,
                    ",".join(f"bench{i:03d}" for i in range(USERS)),
                    hub.api.headers["Authorization"].split()[1])
    if not load.ok:
        raise RuntimeError(load.output[-2000:])
    loaded = json.loads(load.output.strip().splitlines()[-1])
    if spy:
        spy.wait()

    routes = proxy_routes(bed)
    sample = [(prefix, route["target"]) for prefix, route in sorted(routes.items())
              if prefix.startswith("/user/")][:20]
    proxied = json.loads(bed.exec("hub", "python3", "-c", PROXY_LATENCY, json.dumps(sample), "20").output
                         .strip().splitlines()[-1])
    added_ms = 1000 * (statistics.median(proxied["via"]) - statistics.median(proxied["direct"]))

    cold, warm = profile_page(hub, [f"bench{i:03d}" for i in range(50, 60)])

    restart = time.monotonic()
    bed.container("hub").restart(timeout=30)
    bed.wait_hub_ready(timeout=600)
    health_s = time.monotonic() - restart
    hub = Hub(bed, hub.base)
    while hub.ready_count()[0] < len(names):
        if time.monotonic() - restart > 600:
            break
        time.sleep(2)
    reattach_s = time.monotonic() - restart
    ready_after, _ = hub.ready_count()
    routes_after = len(proxy_routes(bed))

    traffic = db_traffic(bed)
    print(json.dumps({
        "servers": len(names), "spawn_all_s": round(spawn_s),
        "poller_cycle_s": round(cycle, 3), "poller_cycles": int(poll_n2 - poll_n),
        "poller_cycles_over_1s": slow_cycles, "job_info_rpcs_per_min": round(rpcs_min, 1),
        "hub_rss_mb": {"before": rss_before, "after": rss_after}, "hub_cpu_pct_steady": round(cpu_pct, 1),
        "api_while_100_home_pages_ms": latency(loaded["api"]),
        "home_page_ms": latency(loaded["home"]),
        "proxy_routes": len(routes), "proxy_added_ms_p50": round(added_ms, 2),
        "profile_page_ms": {"cold": round(1000 * statistics.median(cold)),
                            "warm": round(1000 * statistics.median(warm))},
        "restart": {"health_s": round(health_s, 1), "all_ready_s": round(reattach_s, 1),
                    "ready": ready_after, "routes": routes_after},
        "db_api_ms_p50_p99": {db: {kind: [round(1000 * pct(v, .5), 1), round(1000 * pct(v, .99), 1)]
                                   for kind, v in lat.items()} for db, lat in traffic.items()},
    }, indent=1), flush=True)
    if stacks and stacks.exists():
        print("hub while 100 users load /hub/home (py-spy, % of samples with the frame):")
        for frame, share in hot_spots(stacks):
            print(f"  {share:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
