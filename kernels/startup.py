"""A collaboration kernel whose launcher fails says why in JupyterLab.

Runs in each member's Jupyter server (set in the shipped ``jupyter_server_config.json``). A
release's launcher (``launch.sh``) may fail before ipykernel starts: a module that does not
load, a missing image, a container runtime that refuses. Jupyter would only see a dead kernel;
here the kernel's start waits until it answers or dies, and a death fails the start with what
the launcher wrote, which JupyterLab shows in its "Error Starting Kernel" dialog. The kernel's
output still reaches the server's log as before.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections import deque

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager
from tornado import web
from traitlets import Float

from .check import summarize


class KernelLaunchFailed(web.HTTPError):
    """A start that failed, in words (``str()`` is the message: Jupyter's session handler
    passes ``str(exc)`` on to the browser)."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message.replace("%", "%%"))
        self.message = message

    def __str__(self) -> str:
        return self.message


class LauncherReportingKernelManager(ServerKernelManager):
    _output: deque[str] | None = None  # the launcher's last lines, for collaboration kernels
    start_check_s = Float(60, config=True, help=(
        "How long the start of a collaboration kernel waits for it to answer. A launcher that "
        "exits before then fails the start with its last lines of output; a kernel still "
        "starting then is left to start."))

    def _reports(self) -> bool:
        spec = self.kernel_spec
        return bool(spec and "hpchub" in (spec.metadata or {}) and spec.argv[:1] == ["/bin/sh"])

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:  # noqa: ANN003
        self._output = None
        if not self._reports():
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": subprocess.PIPE})
        self._output = deque(maxlen=40)
        self._tee = threading.Thread(target=tee, args=(self.provisioner.process.stderr, self._output),
                                     daemon=True, name=f"kernel-stderr-{self.kernel_id}")
        self._tee.start()

    async def _async_post_start_kernel(self, **kw) -> None:  # noqa: ANN003
        if self._output is not None:  # before the restarter could restart it
            await self._wait_for_answer()
        await super()._async_post_start_kernel(**kw)

    async def _wait_for_answer(self) -> None:
        client = self.client()
        client.start_channels()
        try:
            await client._async_wait_for_ready(timeout=self.start_check_s)
        except RuntimeError:  # it died before replying to kernel_info
            self._tee.join(2)
            said = summarize("".join(self._output)) or "nothing"
            await self._async_cleanup_resources()
            name = self.kernel_spec.display_name
            said = textwrap.fill(said, 88, initial_indent="  ", subsequent_indent="  ")
            raise KernelLaunchFailed(  # JupyterLab shows it preformatted: lines of its own
                f"{name} could not start on {socket.gethostname()}. Its launcher said:\n{said}\n"
                "Pick another kernel, or tell the collaboration's kernel maintainers.") from None
        except TimeoutError:
            pass  # slow, not dead: Jupyter's own wait goes on
        finally:
            client.stop_channels()


def tee(pipe, kept: deque[str]) -> None:  # noqa: ANN001 - a binary pipe
    """Copy the kernel's stderr to the server's, keeping the last lines."""
    for line in iter(pipe.readline, b""):
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
        kept.append(line.decode(errors="replace"))
    pipe.close()
