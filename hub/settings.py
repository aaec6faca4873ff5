"""``c.HPCHub``: the hub-wide settings of hpchub (the site YAML describes the center; these
say how the hub behaves). ``ProfilesSpawner`` inherits them, so ``jupyterhub --help-all``
lists them and the spawner reads the same values as :func:`hpchub.hub.configure`."""

from __future__ import annotations

from traitlets import Enum, Float, Integer, TraitError, Unicode, validate
from traitlets.config import Configurable


class HubConfigError(TraitError):
    """A setting hpchub cannot run with; the message names it and what to do. A TraitError, so
    JupyterHub stops at start-up with this one line ("Bad config encountered ...")."""


class HPCHub(Configurable):
    """hpchub's settings for one hub."""

    site_config = Unicode(
        help="""The site YAML that describes the center: nodes, partitions, QOS,
        collaborations, node profiles, shared nodes, how to reach Slurm. Checked when the
        hub starts; an error names the key (``profiles[1].partition: unknown partition``).""",
    ).tag(config=True)

    state_dir = Unicode(
        "/srv/hpchub",
        help="""Directory the hub keeps its own files in (cookie secret, proxy pid, internal-SSL
        CAs, SSH user certificates, the metrics token, and the SQLite database unless
        ``JupyterHub.db_url`` is set). Readable by the hub's account only.""",
    ).tag(config=True)

    slurm_access = Enum(
        ["rest", "cli"], default_value=None, allow_none=True,
        help="""How the hub reaches Slurm, overriding the site's ``slurm_access.mode``:
        ``rest`` (slurmrestd with a per-user JWT; the hub needs no Slurm, munge or sudo) or
        ``cli`` (Slurm's commands on a submit host, ``sudo -u USER`` to submit). None: the
        site's choice.""",
    ).tag(config=True)

    server_start_s = Integer(
        180, help="""Seconds a server may take from its job starting to serving (imports,
        extensions, the port report). A queued job is cancelled by its profile's own
        ``pending_timeout_s``; this time comes on top.""",
    ).tag(config=True)

    poll_interval_running = Float(
        20.0, help="""Seconds between the hub's reads of Slurm's job list while every server is
        running (how soon a node failure or time limit is noticed). One read serves every
        server, so the cost does not grow with their number.""",
    ).tag(config=True)

    poll_interval_pending = Float(
        5.0, help="Seconds between job-list reads while some server waits in the queue "
        "(how fresh the queue position on the progress page is).",
    ).tag(config=True)

    poll_interval_submitted = Float(
        0.5, help="Seconds between job-list reads in the first 30 s after a submission "
        "(how soon a job that starts at once is seen running).",
    ).tag(config=True)

    slurm_timeout = Float(
        20.0, help="Seconds the hub waits for one read of Slurm's job list before keeping the "
        "last good one (marked stale; servers are never stopped on a failed read).",
    ).tag(config=True)

    slurm_cache_lifetime = Float(
        60.0, help="Seconds the users' Slurm associations (accounts, QOS) and the reservations "
        "are cached for the profile page. A user added to an account sees it after this long.",
    ).tag(config=True)

    notebook_webhook_port = Integer(
        10110, help="""Port (on 127.0.0.1) of the ``notebook-webhook`` service, which the proxy
        serves at ``/services/notebook-webhook/<collection>``. It runs when a notebook
        collection of the site has a ``webhook_secret_file``.""",
    ).tag(config=True)

    @validate("site_config")
    def _site_exists(self, proposal):
        from hpchub.site_configs import load_site

        load_site(proposal["value"])  # SiteConfigError names the file and the key
        return proposal["value"]
