"""Dask's TLS comms on Python 3.13 with OpenSSL 3.5 (Debian 13): a peer that closes a connection
without TLS's close_notify must read as a closed connection, not break the process's others.

Found here (no upstream issue found yet; distributed 2026.11, CPython 3.13.5, OpenSSL 3.5):
when a Dask nanny closed its short registration connection, the scheduler's read of it failed
with ``BrokenPipeError`` and, from then on, so did reads of its healthy connections (the client
in the notebook's kernel, every worker): the cluster fell apart as its first worker joined.
With OpenSSL's ``OP_IGNORE_UNEXPECTED_EOF`` such an end is a clean one and nothing else breaks.

Applied in the notebook's kernel (scheduler and client) by :mod:`hpchub.jobs.dask` and in
every worker and nanny through ``--preload``/``--preload-nanny hpchub.jobs.dask_tls``.
"""

from __future__ import annotations

import ssl
from typing import Any

from distributed.security import Security

from hpchub.compat import warn_if_untested


def ignore_unexpected_eof() -> None:
    """Every TLS context Dask's :class:`Security` makes ends cleanly on an unexpected EOF."""
    upstream = Security._get_tls_context  # noqa: SLF001 - the one place contexts are made
    if getattr(upstream, "hpchub", False):
        return
    warn_if_untested("distributed")

    def _get_tls_context(self: Security, tls: dict, purpose: ssl.Purpose) -> Any:
        context = upstream(self, tls, purpose)
        if context is not None:
            context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
        return context

    _get_tls_context.hpchub = True  # type: ignore[attr-defined]
    Security._get_tls_context = _get_tls_context  # type: ignore[method-assign]


ignore_unexpected_eof()


def dask_setup(*_: Any) -> None:
    """A Dask preload: importing this module did the work."""
