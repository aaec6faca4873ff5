"""Directory login: jupyterhub-ldapauthenticator with timeouts and an outage in words
(``c.JupyterHub.authenticator_class = "hpchub-ldap"``; settings in ``c.LDAPAuthenticator``).

Upstream opens its connection without timeouts and lets a socket error escape, so an
unreachable directory holds the login for minutes and ends in a bare 500.
"""

from __future__ import annotations

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
                              tls=ldap3.Tls(**self.tls_kwargs), connect_timeout=self.connect_timeout)
        bind = (ldap3.AUTO_BIND_TLS_BEFORE_BIND if self.tls_strategy == TlsStrategy.before_bind
                else ldap3.AUTO_BIND_NO_TLS)
        try:
            return ldap3.Connection(server, user=userdn, password=password, auto_bind=bind,
                                    receive_timeout=self.receive_timeout)  # ldap3: whole seconds
        except LDAPBindError:
            return None

    async def authenticate(self, handler, data):
        try:
            return await super().authenticate(handler, data)
        except LDAPCommunicationError as exc:
            self.log.error("LDAP server %s:%s not answering: %s", self.server_address,
                           self.server_port, exc)
            raise web.HTTPError(503, OUTAGE) from None
