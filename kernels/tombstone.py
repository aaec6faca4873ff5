"""The kernel a retired release leaves behind: every cell gets a message saying what to use."""

from __future__ import annotations

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel
from traitlets import Unicode


class TombstoneKernel(Kernel):
    implementation = "hpchub-retired"
    implementation_version = "1"
    language_info = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}
    banner = "This kernel release was retired."
    message = Unicode("This kernel release was retired.").tag(config=True)

    def do_execute(self, code, silent, store_history=True, user_expressions=None,  # noqa: ANN001
                   allow_stdin=False, *, cell_id=None):  # noqa: ANN001
        error = {"ename": "KernelRetired", "evalue": self.message,
                 "traceback": [f"KernelRetired: {self.message}"]}
        if not silent:
            self.send_response(self.iopub_socket, "error", error)
        return {"status": "error", "execution_count": self.execution_count, **error}


def main() -> None:
    IPKernelApp.launch_instance(kernel_class=TombstoneKernel)


if __name__ == "__main__":
    main()
