"""``hpchub notebooks ...``: what collection maintainers and center admins type.

Exit status: 0 done, 1 the sync failed (the published version is unchanged), 2 the request
was wrong.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import sys
from pathlib import Path

from hpchub.node.confine import join, on_shared_node
from hpchub.site_configs import Site, SiteConfigError, installed_site

from .collection import Collection, CollectionError
from .sync import say, sync


def collection(site: Site, name: str) -> Collection:
    try:
        return Collection(site.notebook_root, site.notebook_collection(name))
    except StopIteration:
        known = ", ".join(c.name for c in site.notebook_collections) or "none"
        raise CollectionError(f"unknown collection {name!r} (this site has: {known})") from None


def cmd_sync(site: Site, args: argparse.Namespace) -> int:
    coll = collection(site, args.name)
    if on_shared_node():  # the sync and its notebooks within the account's CPU and memory share
        try:
            join()
        except RuntimeError as exc:
            raise CollectionError(f"this login node cannot hold the sync to the account's CPU "
                                  f"and memory share ({exc}); tell the center's staff") from None
    return say(sync(site, coll, args.trigger, use_slurm=not args.no_slurm, force=args.force), coll)


def cmd_history(site: Site, args: argparse.Namespace) -> int:
    coll = collection(site, args.name)
    if not os.access(coll.dir, os.R_OK | os.X_OK):
        raise CollectionError(f"you cannot read {coll.dir} (collection of "
                              f"{coll.spec.collaboration or 'the center'})")
    for event in coll.history()[-args.last:]:
        print(f"{event['at']}  {event['by']:<22} {event['ref']:<10} {event['commit'][:12]:<12} "
              f"{event['result']:<9} {event['detail']}".rstrip())
        for failure in event.get("failures", []):
            print(f"    {failure['where']}: {failure['notebook']}: {failure['detail']}")
    return 0


def cmd_list(site: Site, args: argparse.Namespace) -> int:
    for spec in site.notebook_collections:
        coll = Collection(site.notebook_root, spec)
        commit = coll.current_commit() if os.access(coll.dir, os.X_OK) else None
        print(f"{spec.name:<20} {spec.display_name:<24} {spec.collaboration or 'everyone':<10} "
              f"{spec.ref:<10} {commit[:12] if commit else '(not published)'}")
    return 0


def cmd_setup(site: Site, args: argparse.Namespace) -> int:
    """Center admin, as root: one directory per collection, owned by its account; readable by
    the collaboration's group only, or by everyone for a center-wide collection."""
    root = Path(site.notebook_root)
    os.umask(0o022)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for spec in site.notebook_collections:
        try:
            uid = pwd.getpwnam(spec.account).pw_uid
            gid = grp.getgrnam(spec.collaboration).gr_gid if spec.collaboration else \
                pwd.getpwnam(spec.account).pw_gid
        except KeyError as exc:
            raise CollectionError(f"{spec.name}: no account or group {exc.args[0]}: create it and "
                                  "run `hpchub notebooks setup` again. Nothing was changed.") from None
        path = root / spec.name
        if path.is_symlink():
            raise CollectionError(f"{path} is a symbolic link: remove it and run setup again")
        path.mkdir(exist_ok=True)
        os.chown(path, uid, gid, follow_symlinks=False)
        mode = 0o2750 if spec.collaboration else 0o755
        path.chmod(mode)
        print(f"{path}: owner {spec.account}, mode {mode:o}")
    trust_webhook_ca(site)
    return 0


AUTHORIZED = Path("/etc/ssh/hpchub-collections")


def trust_webhook_ca(site: Site) -> None:
    """sshd lets the notebook-webhook's CA log in as a collection's account and as no one else:
    one root-owned authorized-keys file per account (``AuthorizedKeysFile
    /etc/ssh/hpchub-collections/%u``), naming the CA and that account as the only principal."""
    public = Path(site.hub.notebook_webhook_ca_key_file + ".pub")
    owners = sorted({c.account for c in site.notebook_collections if c.webhook_secret_file})
    if not owners:
        return
    if not public.is_file():
        print(f"{public} is not on this node: webhook syncs cannot log in here (copy the "
              "notebook-webhook CA's public key from the hub, then run setup again)")
        return
    key = public.read_text().strip()
    AUTHORIZED.mkdir(mode=0o755, exist_ok=True)
    for owner in owners:
        target = AUTHORIZED / owner
        target.write_text(f'cert-authority,principals="{owner}",no-port-forwarding,'
                          f"no-agent-forwarding,no-X11-forwarding,no-pty {key}\n")
        target.chmod(0o644)
        print(f"{target}: the notebook-webhook CA may log in as {owner} (and no one else)")


COMMANDS = {"sync": cmd_sync, "history": cmd_history, "list": cmd_list, "setup": cmd_setup}


def run(args: argparse.Namespace) -> int:
    try:
        site = installed_site(args.site)
        coll = site.notebook_collection(args.name) if getattr(args, "name", None) else None
    except SiteConfigError as exc:
        print(f"hpchub notebooks {args.ncmd}: {exc}", file=sys.stderr)
        return 2
    except StopIteration:
        coll = None
    # A collaboration's tree is for its group only; a center-wide one for everyone.
    os.umask(0o027 if coll is None or coll.collaboration else 0o022)
    try:
        return COMMANDS[args.ncmd](site, args)
    except CollectionError as exc:
        print(f"hpchub notebooks {args.ncmd}: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    np = sub.add_parser("notebooks", help="curated notebook collections (read-only, from git)")
    np.add_argument("--site", help="site YAML (default: $HPCHUB_SITE or /etc/hpchub/site.yaml)")
    ns = np.add_subparsers(dest="ncmd", required=True)
    p = ns.add_parser("sync", help="fetch the collection's ref, run its notebooks, publish if they pass")
    p.add_argument("name")
    p.add_argument("--no-slurm", action="store_true", help="run the suite on this node only")
    p.add_argument("--force", action="store_true", help="test and publish even if unchanged")
    p.add_argument("--trigger", choices=["manual", "webhook"], default="manual",
                   help=argparse.SUPPRESS)
    p = ns.add_parser("history", help="syncs: ref, commit, time, result, who")
    p.add_argument("name")
    p.add_argument("--last", type=int, default=20)
    ns.add_parser("list", help="collections and their published commit")
    ns.add_parser("setup", help="(center admin, root) create the collection directories")
    np.set_defaults(func=run)
