"""``hpchub kernels ...``: what kernel maintainers and center admins type.

Exit status: 0 done, 1 validation failed (nothing changed), 2 the request was wrong.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import sys
import time
from pathlib import Path

from hpchub.site_configs import Site, SiteConfigError, installed_site

from .images import unpack
from .launcher import module_path
from .registry import Registry
from .release import LoadedSpec, ReleaseError, load_spec
from .validate import SlurmTarget, format_report, validate


def registry(site: Site, collaboration: str) -> Registry:
    try:
        collab = site.collaboration(collaboration)
    except StopIteration:
        known = ", ".join(c.name for c in site.collaborations) or "none"
        raise ReleaseError(f"unknown collaboration {collaboration!r} (this site has: {known})") from None
    return Registry(Path(site.kernel_root), collab.name, collab.display_name,
                    f"{site.runtime_prefix}/bin/python",
                    module_path(site.module_root, collab.name, site.system_module_paths))


def slurm_target(site: Site, args: argparse.Namespace, collaboration: str) -> SlurmTarget | None:
    if args.no_slurm:
        return None
    kv = site.kernel_validation
    return SlurmTarget(partition=args.partition or kv.partition or site.default_partition,
                       time=args.time or kv.time, account=args.account or collaboration,
                       qos=args.qos or kv.qos)


def run_validation(site: Site, args: argparse.Namespace, loaded: LoadedSpec, reg: Registry):  # noqa: ANN201
    if loaded.spec.version in reg.load()["releases"]:
        raise ReleaseError(f"{loaded.spec.kernel_name} is already published: releases are immutable, "
                           "publish a new version")
    base = reg.dir / "staging" if os.access(reg.dir, os.W_OK) else Path.home() / ".cache/hpchub/staging"
    prune_staging(base)
    staging = base / f"{loaded.spec.version}.{os.getpid()}"
    print(f"validating {loaded.spec.kernel_name} ({'here' if not args.no_local else ''}"
          f"{' and ' if not (args.no_local or args.no_slurm) else ''}"
          f"{'on a compute node through Slurm' if not args.no_slurm else ''}) ...", flush=True)
    result = validate(loaded, reg.runtime_python, staging, local=not args.no_local,
                      slurm=slurm_target(site, args, loaded.spec.collaboration),
                      modules_from=reg.modules_from)
    print(format_report(result.report), end="")
    return result, staging


def prune_staging(base: Path, days: float = 7) -> None:
    """Validation outputs are kept for inspection, for a week."""
    if base.is_dir() and not base.is_symlink():  # never follow a planted link elsewhere
        for old in base.iterdir():
            if time.time() - old.stat().st_mtime > days * 86400:
                shutil.rmtree(old, ignore_errors=True)


def cmd_validate(site: Site, args: argparse.Namespace) -> int:
    loaded = load_spec(args.spec)
    result, staging = run_validation(site, args, loaded, registry(site, loaded.spec.collaboration))
    print(f"executed notebooks and the report: {staging}")
    return 0 if result.passed else 1


def cmd_publish(site: Site, args: argparse.Namespace) -> int:
    loaded = load_spec(args.spec)
    reg = registry(site, loaded.spec.collaboration)
    reg.require_writable()  # before a validation that could not be published anyway
    result, staging = run_validation(site, args, loaded, reg)
    if not result.passed:
        print(f"not published: validation failed; published releases are unchanged. "
              f"Executed notebooks: {result.output_dir}", file=sys.stderr)
        return 1
    reg.publish(loaded, result.report, result.output_dir)
    shutil.rmtree(staging, ignore_errors=True)
    state = reg.load()
    note = " (the default)" if state["default"] == loaded.spec.version else \
        f"; the default is still {state['default']} (`hpchub kernels promote` to change it)"
    print(f"published {loaded.spec.kernel_name}{note}")
    return 0


def cmd_change(site: Site, args: argparse.Namespace) -> int:
    reg = registry(site, args.collaboration)
    if args.kcmd == "promote":
        reg.promote(args.version)
        print(f"{args.collaboration} {args.version} is now the default")
    elif args.kcmd == "deprecate":
        reg.deprecate(args.version, args.use)
        print(f"{args.collaboration} {args.version} is deprecated")
    elif args.kcmd == "retire":
        reg.retire(args.version)
        print(f"{args.collaboration} {args.version} is retired")
    elif args.kcmd == "rollback":
        print(f"{args.collaboration}: the default is {reg.rollback()} again")
    return 0


def cmd_list(site: Site, args: argparse.Namespace) -> int:
    names = [args.collaboration] if args.collaboration else [c.name for c in site.collaborations]
    rows = [("kernel", "display name", "state", "published", "by", "validation")]
    for name in names:
        reg = registry(site, name)
        if not os.access(reg.dir, os.R_OK | os.X_OK):
            continue
        state = reg.load()
        for version, rel in state["releases"].items():
            mark = " *" if state["default"] == version else ""
            rows.append((f"{name}-{version}{mark}", rel["display_name"], rel["state"],
                         rel["published_at"][:16], rel["published_by"],
                         "passed" if rel["validation"]["passed"] else "FAILED"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print("* the collaboration's default (kernel <collaboration>-current)")
    return 0


def cmd_show(site: Site, args: argparse.Namespace) -> int:
    reg = registry(site, args.collaboration)
    rel = reg.release(reg.load(), args.version)
    rdir = reg.dir / "releases" / args.version
    print(json.dumps(rel, indent=1))
    report = json.loads((rdir / "validation.json").read_text())
    print(format_report(report), end="")
    print(f"launcher {rdir / 'launch.sh'}:\n{(rdir / 'launch.sh').read_text()}", end="")
    return 0


def cmd_history(site: Site, args: argparse.Namespace) -> int:
    for event in registry(site, args.collaboration).load()["history"]:
        print(f"{event['at']}  {event['by']:<16} {event['action']:<9} {event['version'] or ''}"
              f"  {event['detail']}".rstrip())
    return 0


def cmd_setup(site: Site, args: argparse.Namespace) -> int:
    """Center admin, as root: the kernel root and one directory per collaboration, owned by the
    collaboration's own account (its maintainers) and readable by its group only."""
    missing = []
    for collab in site.collaborations:
        try:
            pwd.getpwnam(collab.name)
            grp.getgrnam(collab.name)
        except KeyError:
            missing.append(collab.name)
    if missing:
        # Without its own account a collaboration's tree would have to be group-writable: every
        # member could publish, swap `current` or plant symlinks. Refuse instead.
        raise ReleaseError(
            f"no Unix account or group named after collaboration(s) {', '.join(missing)}: "
            "create an account and a group of that name (the kernel maintainers log in as the account), "
            "then run `hpchub kernels setup` again. Nothing was changed.")
    os.umask(0o022)  # the path down to each root is for everyone to traverse
    for root in (site.kernel_root, site.module_root, site.image_root):  # releases, modules, images
        collaboration_dirs(Path(root), [c.name for c in site.collaborations])
    return 0


def collaboration_dirs(root: Path, collaborations: list[str]) -> None:
    """``root`` (mode 755) and ``root/<collaboration>``, owned by the collaboration's account and
    group, mode 2750."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name in collaborations:
        path = root / name
        if path.is_symlink():
            raise ReleaseError(f"{path} is a symbolic link: remove it and run setup again")
        path.mkdir(exist_ok=True)
        os.chown(path, pwd.getpwnam(name).pw_uid, grp.getgrnam(name).gr_gid, follow_symlinks=False)
        path.chmod(0o2750)
        print(f"{path}: owner {name}, group {name}, mode 2750")


def cmd_unpack_image(site: Site, args: argparse.Namespace) -> int:
    done = unpack(Path(args.archive).absolute(), Path(args.dest).absolute())
    print(f"{done.path}: {done.image}, {done.files} files, {done.size / 2**20:.0f} MiB, "
          "readable by your group")
    if done.cleared_setid:
        print(f"setuid/setgid bits cleared on {len(done.cleared_setid)} files: "
              + ", ".join(done.cleared_setid))
    print(f"use it in a release spec as  environment: {{kind: container, runtime: podman, "
          f"image: {done.path}}}")
    return 0


COMMANDS = {"validate": cmd_validate, "publish": cmd_publish, "promote": cmd_change,
            "deprecate": cmd_change, "retire": cmd_change, "rollback": cmd_change,
            "list": cmd_list, "show": cmd_show, "history": cmd_history, "setup": cmd_setup,
            "unpack-image": cmd_unpack_image}


def run(args: argparse.Namespace) -> int:
    os.umask(0o027)  # releases are for the collaboration's group only
    try:
        site = installed_site(args.site)
        return COMMANDS[args.kcmd](site, args)
    except (ReleaseError, SiteConfigError) as exc:
        print(f"hpchub kernels {args.kcmd}: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    kp = sub.add_parser("kernels", help="curated per-collaboration kernel releases")
    kp.add_argument("--site", help="site YAML (default: $HPCHUB_SITE or /etc/hpchub/site.yaml)")
    ks = kp.add_subparsers(dest="kcmd", required=True)
    for name, text in (("validate", "start the release's kernel for real and run its notebooks"),
                       ("publish", "validate, then make the release visible to the collaboration")):
        p = ks.add_parser(name, help=text)
        p.add_argument("spec", help="release spec YAML")
        p.add_argument("--no-slurm", action="store_true", help="do not check on a compute node")
        p.add_argument("--no-local", action="store_true", help="do not check on this node")
        p.add_argument("--partition")
        p.add_argument("--qos")
        p.add_argument("--time")
        p.add_argument("--account", help="Slurm account (default: the collaboration)")
    for name, text in (("promote", "make a release the collaboration's default"),
                       ("deprecate", "keep a release usable, marked deprecated"),
                       ("retire", "remove a release; its users get a message naming the replacement")):
        p = ks.add_parser(name, help=text)
        p.add_argument("collaboration")
        p.add_argument("version")
        if name == "deprecate":
            p.add_argument("--use", help="suggested replacement (default: the default release)")
    ks.add_parser("rollback", help="make the previous default the default again").add_argument(
        "collaboration")
    ks.add_parser("list", help="releases you can see").add_argument("collaboration", nargs="?")
    p = ks.add_parser("show", help="one release: record, validation, launcher")
    p.add_argument("collaboration")
    p.add_argument("version")
    ks.add_parser("history", help="who did what, when").add_argument("collaboration")
    ks.add_parser("setup", help="(center admin, root) create the kernel directories")
    p = ks.add_parser("unpack-image", help="unpack a saved container image for podman releases")
    p.add_argument("archive", help="the image, as `docker save` or `podman save` wrote it")
    p.add_argument("dest", help="new directory, e.g. <image_root>/<collaboration>/<name>")
    kp.set_defaults(func=run)
