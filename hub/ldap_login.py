"""Directory login: jupyterhub-ldapauthenticator with timeouts and an outage in words
(``c.JupyterHub.authenticator_class = "hpchub-ldap"``; settings in ``c.LDAPAuthenticator``).

Upstream (jupyterhub-ldapauthenticator 2.0) opens its connection without timeouts and lets a
socket error escape, so an unreachable directory holds the login for minutes and ends in a
bare 500. Its ldap3 calls are synchronous and run in the hub's event loop, and ldap3 reads the
server's whole schema at every bind: with 1,000 servers and 100 users logging in, logins took
9 % of the hub's main thread (benchmarks/scale.py --profile), and an outage stalled every
request for the connect timeout. Here the schema is not read and the login runs in a thread.
"""

from __future__ import annotations

import asyncio

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPCommunicationError
from ldapauthenticator import LDAPAuthenticator
from ldapauthenticator.ldapauthenticator import TlsStrategy
from tornado import web
from traitlets import Integer

OUTAGE = ("The center's directory (LDAP) is not answering, so nobody can log in right now. "
          "Servers that are running are not affected. Please try again in a few minutes.")


class DirectoryAuthenticator(LDAPAuthenticator):
    """Log in with the center's directory; an unreachable directory is a 503 that says so."""

    connect_timeout = Integer(5, help="Seconds to reach the LDAP server before the login "
                              "is refused as a directory outage").tag(config=True)
    receive_timeout = Integer(10, help="Seconds to wait for an answer of the LDAP server"
                              ).tag(config=True)

    def get_connection(self, userdn, password):
        """A connection bound as ``userdn``, or None for wrong credentials."""
        server = ldap3.Server(self.server_address, port=self.server_port,
                              use_ssl=self.tls_strategy == TlsStrategy.on_connect,
                              tls=ldap3.Tls(**self.tls_kwargs), connect_timeout=self.connect_timeout,
                              get_info=ldap3.NONE)
        bind = (ldap3.AUTO_BIND_TLS_BEFORE_BIND if self.tls_strategy == TlsStrategy.before_bind
                else ldap3.AUTO_BIND_NO_TLS)
        try:
            return ldap3.Connection(server, user=userdn, password=password, auto_bind=bind,
                                    receive_timeout=self.receive_timeout)  # ldap3: whole seconds
        except LDAPBindError:
            return None

    async def authenticate(self, handler, data):
        login = super().authenticate(handler, data)  # a coroutine that never awaits: all ldap3
        try:
            return await asyncio.to_thread(asyncio.run, login)
        except LDAPCommunicationError as exc:
            self.log.error("LDAP server %s:%s not answering: %s", self.server_address,
                           self.server_port, exc)
            raise web.HTTPError(503, OUTAGE) from None
