"""Which collaboration kernels a user's Jupyter server shows: each collaboration's own.

Each collaboration's ``<kernel_root>/<name>/current`` is readable by its Unix group only, so
the file system decides who sees which collaboration. From a readable view the server takes
only ``kernels/<name>-*`` (kernel names owned by that collaboration): a maintainer of one
collaboration can neither shadow another's kernel names nor ship anything else (JupyterLab
extensions, settings) into members' servers. The views are never put on ``JUPYTER_PATH``.

Servers use :class:`CollaborationKernelSpecManager` (set in the shipped
``jupyter_server_config.json``), which reads the views at every listing, so
a published or promoted release shows up without a server restart.
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from traitlets import Unicode, default

from hpchub.node.contract import JobContract

ROOT_VARIABLE = JobContract.name("kernel_root")


def owner_of(kernel: str, collaborations: list[str]) -> str | None:
    """The collaboration whose name is the longest ``<name>-`` prefix of ``kernel``.

    >>> owner_of("desi-26.3", ["desi", "desi-y1", "lsst"]), owner_of("desi-y1-2", ["desi", "desi-y1"])
    ('desi', 'desi-y1')
    """
    owners = [c for c in collaborations if kernel.startswith(f"{c}-")]
    return max(owners, key=len) if owners else None


def collaboration_kernels(root: str | Path) -> dict[str, str]:
    """{kernel name: resource dir} of the collaboration kernels this process may read."""
    try:
        names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    except OSError:
        return {}
    found: dict[str, str] = {}
    for collaboration in names:
        kernels = Path(root) / collaboration / "current" / "kernels"
        try:
            entries = sorted(os.listdir(kernels))
        except OSError:  # not readable by this user, or no view yet
            continue
        for kernel in entries:
            path = kernels / kernel
            if owner_of(kernel.lower(), names) == collaboration and (path / "kernel.json").is_file():
                found[kernel.lower()] = str(path)
    return found


class CollaborationKernelSpecManager(KernelSpecManager):
    """Jupyter's kernel specs plus each readable collaboration's own kernels (listed first)."""

    kernel_root = Unicode(help="Directory holding one kernel registry per collaboration "
                          "(the site's kernel_root)").tag(config=True)

    @default("kernel_root")
    def _kernel_root_default(self) -> str:
        return os.environ.get(ROOT_VARIABLE, "")

    def collaboration_specs(self) -> dict[str, str]:
        return collaboration_kernels(self.kernel_root) if self.kernel_root else {}

    def find_kernel_specs(self) -> dict[str, str]:
        return {**super().find_kernel_specs(), **self.collaboration_specs()}

    def get_kernel_spec(self, kernel_name: str):  # noqa: ANN201 - jupyter_client's KernelSpec
        path = self.collaboration_specs().get(kernel_name.lower())
        if path is None:
            return super().get_kernel_spec(kernel_name)
        try:
            return self.kernel_spec_class.from_resource_dir(path)
        except OSError:
            raise NoSuchKernel(kernel_name) from None
