"""The ``hpchub`` command: ``testbed``, ``hub`` and ``site`` subcommands."""

from __future__ import annotations

import argparse
import sys
import time


def missing_extra(exc: ModuleNotFoundError, extra: str) -> int:
    """A command whose optional dependency is not installed: say which extra to install."""
    print(f"hpchub: this command needs the Python package {exc.name!r}, which is not installed.\n"
          f"Install hpchub with its '{extra}' extra: pip install 'hpchub[{extra}]'", file=sys.stderr)
    return 2


def cmd_testbed(args: argparse.Namespace) -> int:
    try:
        from hpchub.containers.engine import TestbedError
        from hpchub.containers.testbed import from_site
    except ModuleNotFoundError as exc:
        return missing_extra(exc, "testbed")

    try:
        bed = from_site(args.site, project=args.project, hub_mode=args.hub_mode)
        if args.action == "up":
            start = time.monotonic()
            bed.up(build=not args.no_build)
            secrets = bed.secrets()
            users = ", ".join(u.name for u in bed.site.users)
            print(f"testbed: up in {time.monotonic() - start:.1f} s\n"
                  f"  hub:      {bed.hub_url}\n  users:    {users}\n"
                  f"  password: {secrets['demo_password']}")
        elif args.action == "examples":
            from hpchub.containers.demo import add_examples, try_this

            start = time.monotonic()
            for line in add_examples(bed):
                print(f"examples: {line}", flush=True)
            print(f"examples: ready in {time.monotonic() - start:.1f} s\n")
            print(try_this(bed, bed.secrets()["demo_password"]))
        elif args.action == "down":
            bed.down(keep_data=args.keep_data)
            print("testbed: down" + (" (data volumes kept)" if args.keep_data else ""))
        elif args.action == "status":
            for node, state in bed.status():
                print(f"{node:<12} {state}")
            if bed.find("slurmctld"):
                print(bed.exec("slurmctld", "sinfo").output, end="")
        elif args.action == "exec":
            node, user, command = exec_arguments(args)
            result = bed.exec(node, *command, user=user)
            print(result.output, end="")
            return result.code
    except TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    return 0


def exec_arguments(args: argparse.Namespace) -> tuple[str | None, str, list[str]]:
    """``exec [--user U] NODE [--user U] -- CMD...``: argparse's REMAINDER keeps options it sees."""
    words = ([args.node] if args.node else []) + list(args.command)
    user, rest = args.user, []
    while words and words[0] != "--":
        word = words.pop(0)
        if word == "--user" and words:
            user = words.pop(0)
        else:
            rest.append(word)
    node = rest.pop(0) if rest else None
    return node, user, rest + words[1:]


def cmd_hub(args: argparse.Namespace) -> int:
    from hpchub.hub.run import run_hub

    return run_hub(args.site, args.state_dir, args.slurm_access)


def cmd_site(args: argparse.Namespace) -> int:
    from hpchub.site_configs import SiteConfigError, load_site

    try:
        site = load_site(args.path)
    except SiteConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.path}: valid site {site.name!r}: {len(site.hostnames)} nodes, "
          f"{len(site.partitions)} partitions, {len(site.profiles)} profiles")
    if args.slurm:
        return check_slurm(site, args.slurm_access or site.slurm_access.mode)
    return 0


def check_slurm(site, mode: str) -> int:  # noqa: ANN001 - a Site
    """``--slurm``: ask the site's Slurm (as the hub would) which Slurm and REST API it is."""
    import asyncio

    from hpchub.hub.slurm_connection import connect_slurm
    from hpchub.slurm.client import SlurmError
    from hpchub.slurm.runner import CommandTimeout

    client = connect_slurm(site, mode)
    try:
        about = asyncio.run(client.about())
    except (SlurmError, CommandTimeout, OSError) as exc:
        print(f"Slurm ({mode}): {exc}", file=sys.stderr)
        return 1
    print(f"Slurm ({mode}): {about}: supported")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hpchub", description=__doc__)
    sub = top.add_subparsers(dest="cmd", required=True)

    tb = sub.add_parser("testbed", help="the Slurm-in-Docker test center")
    tb.add_argument("action", choices=["up", "examples", "down", "status", "exec"],
                    help="examples: publish example kernel releases and notebooks (make demo)")
    tb.add_argument("node", nargs="?", help="node for exec (e.g. c1, login1, hub)")
    tb.add_argument("command", nargs=argparse.REMAINDER, help="command for exec, after --")
    tb.add_argument("--site", default="testbed", help="site YAML or bundled name")
    tb.add_argument("--project", default="hpchub", help="prefix of containers and volumes")
    tb.add_argument("--keep-data", action="store_true", help="down: keep volumes")
    tb.add_argument("--no-build", action="store_true", help="up: reuse the existing image")
    tb.add_argument("--user", default="root", help="exec: run as this user")
    tb.add_argument("--hub-mode", choices=["rest", "cli"],
                    help="up: how the hub reaches Slurm (default: the site's slurm_access.mode)")
    tb.set_defaults(func=cmd_testbed)

    hub = sub.add_parser("hub", help="run JupyterHub for a site")
    hub.add_argument("--site", required=True)
    hub.add_argument("--state-dir", default="/srv/hpchub")
    hub.add_argument("--slurm-access", choices=["rest", "cli"],
                     help="override the site's slurm_access.mode")
    hub.set_defaults(func=cmd_hub)

    from hpchub.kernels.cli import add_parser as add_kernels

    add_kernels(sub)

    from hpchub.notebooks.cli import add_parser as add_notebooks

    add_notebooks(sub)

    site = sub.add_parser("site", help="site configs")
    site_sub = site.add_subparsers(dest="site_cmd", required=True)
    validate = site_sub.add_parser("validate", help="check a site YAML file")
    validate.add_argument("path")
    validate.add_argument("--slurm", action="store_true",
                          help="also ask the site's Slurm (as the hub would) which Slurm and REST "
                               "API versions it runs, and refuse one hpchub does not support")
    validate.add_argument("--slurm-access", choices=["rest", "cli"],
                          help="with --slurm: how to reach it (default: the site's slurm_access.mode)")
    validate.set_defaults(func=cmd_site)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
