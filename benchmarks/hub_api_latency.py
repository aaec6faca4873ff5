"""Hub API latency while 50 servers spawn at once, against the same hub idle (same run).

A client in the hub container logs in the four site users, then a prober calls
``GET /hub/api/users/<name>`` every 100 ms (what spawn and home pages poll). Idle phase:
20 s. Burst: 50 named servers (profile ``debug``, real Slurm jobs and JupyterLab servers)
requested at once, each with its progress stream open as a browser would, until all are
ready; then all are stopped.

    .venv/bin/python benchmarks/hub_api_latency.py [--servers 50]
"""

from __future__ import annotations

import argparse
import json

from common import testbed

CLIENT = r'''
import json, statistics, sys, threading, time, requests
base, password, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
users = ["alice", "bob", "carol", "dave"]
apis = {}
for user in users:
    s = requests.Session(); s.get(base + "/hub/login")
    r = s.post(base + "/hub/login", data={"username": user, "password": password,
               "_xsrf": s.cookies.get("_xsrf")}, allow_redirects=False)
    assert r.status_code == 302, r.status_code
    tok = s.post(base + f"/hub/api/users/{user}/tokens", headers={"X-XSRFToken": s.cookies.get("_xsrf")},
                 json={"expires_in": 3600}).json()["token"]
    apis[user] = requests.Session(); apis[user].headers["Authorization"] = "token " + tok

samples, stop = [], threading.Event()
def probe():
    api = requests.Session(); api.headers.update(apis["alice"].headers)
    while not stop.is_set():
        t = time.perf_counter(); api.get(base + "/hub/api/users/alice", timeout=60)
        samples.append((time.monotonic(), time.perf_counter() - t)); time.sleep(0.1)

def pct(values, q):
    values = sorted(values); return values[min(len(values) - 1, int(q * len(values)))]

threading.Thread(target=probe, daemon=True).start()
t_idle = time.monotonic(); time.sleep(20)
servers = [(users[i % 4], f"burst{i}") for i in range(n)]
outcome = {}
def spawn(user, name):
    api = requests.Session(); api.headers.update(apis[user].headers)  # one session per thread
    r = api.post(base + f"/hub/api/users/{user}/servers/{name}", json={"profile": "debug"}, timeout=120)
    if r.status_code not in (201, 202):
        outcome[name] = f"HTTP {r.status_code}"; return
    with api.get(base + f"/hub/api/users/{user}/servers/{name}/progress", stream=True, timeout=600) as resp:
        if resp.status_code != 200:
            outcome[name] = f"progress HTTP {resp.status_code}: {resp.text[:100]}"; return
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("ready") or event.get("failed"):
                    outcome[name] = "ready" if event.get("ready") else "failed: " + event.get("message", "")
                    return
    outcome[name] = outcome.get(name, "progress stream ended early")
t_burst = time.monotonic()
threads = [threading.Thread(target=spawn, args=s) for s in servers]
for th in threads: th.start()
for th in threads: th.join()
t_done = time.monotonic()
stop.set()
idle = [lat for at, lat in samples if t_idle <= at < t_burst]
burst = [lat for at, lat in samples if t_burst <= at <= t_done]
for user, name in servers:
    apis[user].delete(base + f"/hub/api/users/{user}/servers/{name}", timeout=120)
deadline = time.monotonic() + 180
while time.monotonic() < deadline and any(
        apis[u].get(base + f"/hub/api/users/{u}").json()["servers"] for u in users):
    time.sleep(1)
print(json.dumps({
    "idle": {"n": len(idle), "p50": pct(idle, .5), "p99": pct(idle, .99), "max": max(idle)},
    "burst": {"n": len(burst), "p50": pct(burst, .5), "p99": pct(burst, .99), "max": max(burst)},
    "all_ready_s": t_done - t_burst,
    "outcomes": {k: sum(1 for v in outcome.values() if v == k) for k in set(outcome.values())},
}))
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=50)
    args = ap.parse_args()
    bed = testbed()
    res = bed.exec("hub", "python3", "-c", CLIENT, "http://127.0.0.1:8000",
                   bed.secrets()["demo_password"], str(args.servers))
    assert res.code == 0, res.output[-3000:]
    data = json.loads(res.output.strip().splitlines()[-1])
    for phase in ("idle", "burst"):
        d = data[phase]
        print(f"{phase:>5}: GET /hub/api/users/alice p50 {1000 * d['p50']:7.1f} ms  p99 "
              f"{1000 * d['p99']:7.1f} ms  max {1000 * d['max']:7.1f} ms  (n={d['n']})")
    print(f"burst: {args.servers} spawns, outcomes {data['outcomes']}, all settled after "
          f"{data['all_ready_s']:.1f} s")
    print(f"p99 during the burst / idle p99: {data['burst']['p99'] / data['idle']['p99']:.1f}x")


if __name__ == "__main__":
    main()
