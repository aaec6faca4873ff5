"""Click-to-ready latency on the idle testbed: hpchub vs vanilla batchspawner + ProfilesSpawner.

Both hubs run in the same hub container against the same cluster, in the same run; spawns
alternate between them. "Ready" is the moment the hub's REST API reports the server ready,
measured from the spawn request (what the spawn page waits for).

    .venv/bin/python benchmarks/spawn_latency.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import summary, testbed
from spawn_phases import phases, report

CLIENT = r'''
import json, subprocess, sys, time, requests
base, user, password, server, options = sys.argv[1:6]
s = requests.Session()
s.get(base + "/hub/login")
r = s.post(base + "/hub/login", data={"username": user, "password": password,
           "_xsrf": s.cookies.get("_xsrf")}, allow_redirects=False)
assert r.status_code == 302, r.status_code
tok = s.post(base + f"/hub/api/users/{user}/tokens", headers={"X-XSRFToken": s.cookies.get("_xsrf")},
             json={"expires_in": 600}).json()["token"]
api = requests.Session(); api.headers["Authorization"] = "token " + tok
url = base + f"/hub/api/users/{user}/servers/{server}"
t0 = time.monotonic()
r = api.post(url, json=json.loads(options))
assert r.status_code in (201, 202), r.text
while True:
    srv = api.get(base + f"/hub/api/users/{user}").json()["servers"].get(server)
    if srv and srv.get("ready"):
        break
    assert srv, "spawn failed"
    time.sleep(0.1)
elapsed = time.monotonic() - t0
api.delete(url)
while api.get(base + f"/hub/api/users/{user}").json()["servers"].get(server):
    time.sleep(0.2)
# The next spawn (of the other hub) starts on an idle cluster: this job has fully ended.
deadline = time.monotonic() + 60
while subprocess.run(["squeue", "-h", "-u", user], capture_output=True, text=True).stdout.strip():
    assert time.monotonic() < deadline, "the server's job did not end within 60 s"
    time.sleep(0.2)
print(json.dumps({"seconds": elapsed}))
'''


def start_vanilla(bed) -> None:
    config = Path(__file__).with_name("vanilla_hub_config.py").read_text()
    bed.container("hub").exec_run(["bash", "-c", "mkdir -p /srv/vanilla"])
    bed.exec("hub", "python3", "-c",
             f"open('/srv/vanilla/config.py', 'w').write({config!r})")
    bed.container("hub").exec_run(
        ["bash", "-c", "cd /srv/vanilla && nohup jupyterhub -f config.py > hub.log 2>&1 &"],
        detach=True)
    for _ in range(120):
        if bed.exec("hub", "curl", "-sf", "http://127.0.0.1:8003/hub/health").ok:
            return
        time.sleep(0.5)
    raise RuntimeError("vanilla hub did not start:\n" + bed.exec("hub", "tail", "-30",
                                                                 "/srv/vanilla/hub.log").output)


def stop_vanilla(bed) -> None:
    bed.exec("hub", "bash", "-c", "pkill -f 'jupyterhub -f config.py'; "
             "pkill -f 'configurable-http-proxy.*8004'; true")


def spawn_once(bed, base: str, user: str, server: str, options: dict) -> float:
    result = bed.exec("hub", "python3", "-c", CLIENT, base, user,
                      bed.secrets()["demo_password"], server, json.dumps(options))
    if not result.ok:
        raise RuntimeError(result.output[-2000:])
    return json.loads(result.output.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    bed = testbed()
    start_vanilla(bed)
    ours, vanilla = [], []
    try:
        spawn_once(bed, "http://127.0.0.1:8000", "alice", "bench", {"profile": "cpu"})  # warm-up
        spawn_once(bed, "http://127.0.0.1:8003", "bob", "", {"profile": "cpu"})
        for i in range(args.rounds):
            ours.append(spawn_once(bed, "http://127.0.0.1:8000", "alice", "bench",
                                   {"profile": "cpu"}))
            vanilla.append(spawn_once(bed, "http://127.0.0.1:8003", "bob", "", {"profile": "cpu"}))
            print(f"round {i + 1}: hpchub {ours[-1]:5.2f} s   vanilla {vanilla[-1]:5.2f} s",
                  flush=True)
    finally:
        stop_vanilla(bed)
    print("hpchub  :", summary(ours))
    print("vanilla :", summary(vanilla))
    import statistics
    print(f"ratio vanilla/hpchub (median): {statistics.median(vanilla) / statistics.median(ours):.2f}x")
    print(report(phases(bed, "alice", "bench", args.rounds)))


if __name__ == "__main__":
    main()
