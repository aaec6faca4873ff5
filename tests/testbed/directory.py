"""Changes to the testbed's LDAP directory, as a center's identity team would make them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hpchub.containers.render import GROUPS, LDAP_SUFFIX


def ldap_modify(testbed, ldif: str) -> None:
    admin = testbed.secrets()["ldap_admin_password"]
    done = testbed.exec("ldap", "sh", "-c", f"printf '%s' '{ldif}' | ldapmodify -x -H ldap://localhost "
                        f"-D cn=admin,{LDAP_SUFFIX} -w {admin}")
    assert done.ok, done.output


@contextmanager
def member_of(testbed, user: str, group: str) -> Iterator[None]:
    """``user`` is in the collaboration group ``group`` in LDAP until the block ends."""
    change = f"dn: cn={group},{GROUPS}\nchangetype: modify\n{{}}: memberUid\nmemberUid: {user}\n"
    ldap_modify(testbed, change.format("add"))
    try:
        yield
    finally:
        ldap_modify(testbed, change.format("delete"))


@contextmanager
def not_member_of(testbed, user: str, group: str) -> Iterator[None]:
    """``user`` is out of the collaboration group ``group`` in LDAP until the block ends."""
    change = f"dn: cn={group},{GROUPS}\nchangetype: modify\n{{}}: memberUid\nmemberUid: {user}\n"
    ldap_modify(testbed, change.format("delete"))
    try:
        yield
    finally:
        ldap_modify(testbed, change.format("add"))
