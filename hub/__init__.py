"""The hub's part of hpchub, one job per module: :mod:`.config` (``configure(c)``, what a
center's ``jupyterhub_config.py`` calls), :mod:`.settings` (``c.HPCHub``), :mod:`.unhonoured`
(upstream settings refused), :mod:`.slurm_connection`, :mod:`.proxy`, :mod:`.ldap_login`
(directory login), :mod:`.idle` (idle culling) and :mod:`.run` (``hpchub hub``)."""

from .config import configure

__all__ = ["configure"]
