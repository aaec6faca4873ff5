"""jupyterhub-idle-culler's config in hpchub (``--config``): per-profile idle limits."""

from hpchub.hub.idle import cull

c.IdleCuller.cull_arbiter_hook = cull  # noqa: F821 - `c` is given by traitlets
