"""Click-to-ready latency on the idle testbed: hpchub in both modes vs vanilla batchspawner +
ProfilesSpawner, in one run.

hpchub runs in the hub container, first off the cluster (``rest``: slurmrestd), then as a
submit host (``cli``); vanilla, which needs Slurm's commands and sudo, runs on login1 (a submit
host). Spawns alternate between hpchub and vanilla. "Ready" is the moment the hub's REST API
reports the server ready, measured from the spawn request (what the spawn page waits for); the
clients run on login1.

    .venv/bin/python benchmarks/spawn_latency.py [--rounds 10] [--modes rest cli]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import summary, testbed
from spawn_phases import phases, report

from hpchub.containers.testbed import from_site

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


VANILLA = "login1"  # a submit host: vanilla batchspawner runs `sudo -E -u USER sbatch`
HPCHUB = "http://hub:8000"
# The baseline's own packages, beside (not in) the nodes' runtime, on storage every node sees.
VANILLA_VENV = "/global/common/software/hpchub-bench/vanilla"
VANILLA_PACKAGES = ("batchspawner==1.3.0", "wrapspawner==1.0.1")


def install_vanilla(bed) -> None:
    """batchspawner and wrapspawner in their own venv (the nodes' runtime, which has neither
    since the hub/node split, is reached through a .pth file); made once."""
    script = f"""set -e
test -x {VANILLA_VENV}/bin/batchspawner-singleuser && exit 0
rm -rf {VANILLA_VENV}
/usr/bin/python3 -m venv --without-pip {VANILLA_VENV}
site=$({VANILLA_VENV}/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
/opt/hpchub/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > $site/zz-runtime.pth
uv pip install -q --no-deps --python {VANILLA_VENV}/bin/python {' '.join(VANILLA_PACKAGES)}
chmod -R a+rX {VANILLA_VENV}
"""
    done = bed.exec(VANILLA, "bash", "-c", script)
    if not done.ok:
        raise RuntimeError(f"installing the vanilla baseline failed:\n{done.output[-2000:]}")


def start_vanilla(bed) -> None:
    config = Path(__file__).with_name("vanilla_hub_config.py").read_text()
    bed.exec(VANILLA, "mkdir", "-p", "/srv/vanilla")
    # PAM login with the users' directory passwords (pam_ldap, through nslcd).
    bed.exec(VANILLA, "python3", "-c", f"open('/srv/vanilla/config.py', 'w').write({config!r})")
    bed.container(VANILLA).exec_run(
        ["bash", "-c", f"cd /srv/vanilla && nohup {VANILLA_VENV}/bin/python -m jupyterhub "
         "-f config.py > hub.log 2>&1 &"], detach=True)
    for _ in range(120):
        if bed.exec(VANILLA, "curl", "-sf", "http://127.0.0.1:8003/hub/health").ok:
            return
        time.sleep(0.5)
    raise RuntimeError("vanilla hub did not start:\n" + bed.exec(VANILLA, "tail", "-30",
                                                                 "/srv/vanilla/hub.log").output)


def stop_vanilla(bed) -> None:
    """Stop the baseline hub and cancel its jobs (none left queued, whatever failed)."""
    bed.exec(VANILLA, "bash", "-c", "pkill -f 'm jupyterhub -f config.py'; "
             "pkill -f 'configurable-http-proxy.*8004'; true")
    bed.exec("slurmctld", "scancel", "--name=spawner-jupyterhub")


def spawn_once(bed, base: str, user: str, server: str, options: dict) -> float:
    result = bed.exec(VANILLA, "python3", "-c", CLIENT, base, user,
                      bed.secrets()["demo_password"], server, json.dumps(options))
    if not result.ok:
        raise RuntimeError(result.output[-2000:])
    return json.loads(result.output.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--modes", nargs="+", default=["rest", "cli"], choices=["rest", "cli"])
    args = parser.parse_args()
    bed = testbed()
    install_vanilla(bed)
    start_vanilla(bed)
    ours: dict[str, list[float]] = {}
    vanilla: list[float] = []
    try:
        for mode in args.modes:
            from_site(bed.site_path, project=bed.project, hub_mode=mode).up(build=False)
            spawn_once(bed, HPCHUB, "alice", "bench", {"profile": "cpu"})  # warm-up
            spawn_once(bed, "http://127.0.0.1:8003", "bob", "", {"profile": "cpu"})
            ours[mode] = []
            for i in range(args.rounds):
                ours[mode].append(spawn_once(bed, HPCHUB, "alice", "bench", {"profile": "cpu"}))
                vanilla.append(spawn_once(bed, "http://127.0.0.1:8003", "bob", "",
                                          {"profile": "cpu"}))
                print(f"{mode} round {i + 1}: hpchub {ours[mode][-1]:5.2f} s   "
                      f"vanilla {vanilla[-1]:5.2f} s", flush=True)
            if mode == args.modes[-1]:
                print(report(phases(bed, "alice", "bench", args.rounds)))
    finally:
        stop_vanilla(bed)
        bed.up(build=False)  # the site's own mode again
    import statistics
    print("vanilla       :", summary(vanilla))
    for mode, times in ours.items():
        print(f"hpchub {mode:<6} :", summary(times))
        print(f"ratio vanilla/hpchub {mode} (median): "
              f"{statistics.median(vanilla) / statistics.median(times):.2f}x")
    if {"rest", "cli"} <= set(ours):
        extra = statistics.median(ours["rest"]) - statistics.median(ours["cli"])
        print(f"rest - cli (median): {extra:+.2f} s")


if __name__ == "__main__":
    main()
