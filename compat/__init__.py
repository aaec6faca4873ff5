"""Every place hpchub changes an upstream package's behaviour, and the versions it was tested on.

A maintainer upgrading one of these packages starts here: :data:`PATCHES` says what each patch
replaces, why, where its code is, which upstream versions it was tested with, and which test
shows it still does its job. Each patch checks the installed version before it patches:

- on the hub (:func:`require`) an untested version stops the hub at start-up, in words (a
  replaced security handler that silently stopped applying would be worse than no start);
- in a server's job (:func:`warn_if_untested`) it is said in the server's log and the patch
  still applies (each one checks the shape of what it replaces), so no user's server fails
  over an upgrade the center made.

``python -m hpchub.compat`` checks every installed upstream package of this environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet


@dataclass(frozen=True)
class Patch:
    upstream: str  # the distribution, or "python" for the standard library
    tested: str  # the versions it was tested with (a PEP 440 specifier)
    where: str  # module:function that patches
    replaces: str
    why: str
    test: str  # tests/<file>::<test> that fails when the patch stops doing its job


PATCHES = (
    Patch("batchspawner", "==1.3.0", "hpchub.spawners.api:install_handlers",
          "batchspawner's /api/batchspawner handler, where batchspawner is installed in the "
          "hub's environment (hpchub does not use it)",
          "it setattr()s every key a job posts on the hub's spawner: a job could set "
          "exec_prefix and run commands on the hub (no upstream fix in 1.3.0)",
          "tests/test_job_api.py::test_batchspawners_handler_is_gone_where_batchspawner_is_installed"),
    Patch("jupyterhub", ">=6.1,<6.2", "hpchub.spawners.sharing:install",
          "the share and accept-share handlers, and jupyterhub.scopes.get_scopes_for",
          "servers are shared only within the owner's collaborations, and a token gets the "
          "access its user's groups were granted (JupyterHub 6.1 shares with any user or group)",
          "tests/testbed/test_sharing.py::test_a_server_is_shared_only_within_the_owners_collaborations"),
    Patch("jupyterhub", ">=6.1,<6.2", "hpchub.node.tls_contexts:share_contexts",
          "jupyterhub.utils.make_ssl_context wherever JupyterHub imported it",
          "JupyterHub 6.1 builds a TLS context (and parses the CA bundle) for every internal-SSL "
          "call; one per certificate is enough, and it must tolerate a peer's unexpected EOF "
          "(Python 3.13 + OpenSSL 3.5: 'Broken pipe' on the next calls otherwise)",
          "tests/test_tls_contexts.py::test_share_contexts_replaces_jupyterhubs_function_everywhere"),
    Patch("jupyterhub", ">=6.1,<6.2", "hpchub.node.share_guard:_load_jupyter_server_extension",
          "the single-user server's HubAuth.user_for_token and identity provider get_user",
          "HubAuth caches a token's user for 5 minutes and never rechecks an open websocket, so a "
          "revoked guest kept the kernels and terminals they had open",
          "tests/testbed/test_sharing.py::test_revoking_ends_the_guests_kernels_terminals_and_the_token_they_read"),
    Patch("jupyterhub", ">=6.1,<6.2", "hpchub.hub.proxy:proxy_class",
          "jupyterhub.proxy.ConfigurableHTTPProxy._check_pid (the hub's proxy_class)",
          "at start-up JupyterHub SIGTERMs whatever process has the pid its pid file recorded; "
          "after a container or machine restart that was often the new hub itself "
          "(jupyterhub/jupyterhub#2886)",
          "tests/test_proxy.py::test_a_process_that_reused_the_proxys_pid_is_left_running"),
    Patch("jupyterlab", ">=4.0,<4.7", "hpchub.node.fast_start:import_lab_without_node",
          "jupyterlab.commands._yarn_config, while jupyterlab.labapp is imported",
          "importing labapp runs node to read yarn's registry (0.8 s of a server's start; "
          "closest upstream: jupyterlab/jupyterlab#8471)",
          "tests/testbed/test_server_start.py::test_fast_start_imports_jupyterlab_without_node_and_restores_the_lookup"),
    Patch("python", ">=3.11,<3.14", "hpchub.node.start_up:begin",
          "ssl.SSLContext.set_default_verify_paths, until the server serves",
          "each TLS context made during start-up parses the whole CA bundle; the hashed CA "
          "directory holds the same certificates",
          "tests/test_start_up.py::test_contexts_made_during_start_up_verify_through_the_directory"),
    Patch("distributed", ">=2024.1,<2026.12", "hpchub.jobs.dask_tls:ignore_unexpected_eof",
          "distributed.security.Security._get_tls_context (adds OP_IGNORE_UNEXPECTED_EOF)",
          "with Python 3.13 and OpenSSL 3.5 a peer's close without close_notify broke every TLS "
          "connection of the scheduler (no upstream issue yet)",
          "tests/testbed/test_launcher_security.py::test_another_user_cannot_use_a_members_dask_cluster"),
)


class UntestedUpstream(RuntimeError):
    """An upstream package is at a version a patch was not tested with."""


def installed(upstream: str) -> str | None:
    if upstream == "python":
        return ".".join(map(str, sys.version_info[:3]))
    try:
        return version(upstream)
    except PackageNotFoundError:
        return None


def untested(upstream: str) -> list[str]:
    """What is wrong with the installed ``upstream`` for hpchub's patches of it, in words."""
    found = installed(upstream)
    problems = []
    for patch in PATCHES:
        if patch.upstream == upstream and found and found not in SpecifierSet(patch.tested):
            problems.append(f"{patch.where} replaces {patch.replaces}; it was tested with "
                            f"{upstream}{patch.tested} and this environment has {found}")
    return problems


def _message(problems: list[str]) -> str:
    return ("hpchub: " + "; ".join(problems) + ". Install the tested version, or an hpchub "
            "release tested with this one (hpchub.compat lists every patch).")


def require(upstream: str) -> None:
    """On the hub: refuse an untested ``upstream`` (:class:`UntestedUpstream`)."""
    problems = untested(upstream)
    if problems:
        raise UntestedUpstream(_message(problems))


def warn_if_untested(upstream: str) -> bool:
    """In a job: say on stderr (the server's log) that ``upstream`` is untested; False then."""
    problems = untested(upstream)
    if problems:
        print(_message(problems), file=sys.stderr, flush=True)
    return not problems


def main() -> int:
    names = sorted({p.upstream for p in PATCHES})
    bad = [line for name in names for line in untested(name)]
    for name in names:
        print(f"{name:<14} {installed(name) or 'not installed'}")
    for line in bad:
        print("UNTESTED:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
