"""Launch this package's Triton kernels on the device their tensors are on, compiled or interpreted.

Why: Triton decides between compiling a kernel (GPU) and interpreting it (numpy
on the CPU, ``TRITON_INTERPRET=1``) when the kernel is *defined*, i.e. when its
module is imported. A process that imported the kernels without the variable
could not run them on CPU tensors, and whether it could depended on import
order (issue 8). Here the choice is made per call, from the tensors' device:

- CUDA tensors run the kernel module as imported (normally compiled), with the
  autotuner picking block sizes once per shape;
- CPU tensors run an *interpreted twin* of the same module: its source loaded a
  second time, under another module name, with ``TRITON_INTERPRET=1`` set for
  that load only. The interpreter runs fixed large blocks (each program costs
  Python overhead there).

Whether Triton may run on the CPU at all (``--fac triton --device cpu``) is a
policy of :mod:`.dispatch`; this module only makes the kernels runnable there.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from types import ModuleType
from typing import Callable

import torch
import triton

_LOCK = threading.Lock()


def is_interpreted(kernel) -> bool:
    """True for a kernel object made under ``TRITON_INTERPRET=1`` (an ``InterpretedFunction``)."""
    return type(kernel).__name__ == "InterpretedFunction"


def _twin(module: ModuleType) -> ModuleType:
    """``module`` loaded again with every ``@triton.jit`` kernel interpreted (cached in ``sys.modules``)."""
    name = module.__name__ + "__interpreted"
    with _LOCK:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, module.__file__)
        twin = importlib.util.module_from_spec(spec)
        before = os.environ.get("TRITON_INTERPRET")
        os.environ["TRITON_INTERPRET"] = "1"
        try:
            spec.loader.exec_module(twin)
        finally:
            if before is None:
                os.environ.pop("TRITON_INTERPRET", None)
            else:
                os.environ["TRITON_INTERPRET"] = before
        sys.modules[name] = twin
        return twin


class Kernel:
    """One ``@triton.jit`` kernel of a module, launched as ``kernel(device, grid, *args, **constants)``.

    ``configs`` (autotuner configurations) and ``key`` (the arguments whose
    values select a tuned configuration) apply to compiled runs; ``blocks``
    are the fixed block sizes of interpreted runs. ``grid`` is a function of
    the launch's meta-parameters, as for ``kernel[grid]``.
    """

    def __init__(self, module: str, name: str, configs: Callable[[], list[triton.Config]], key: list[str],
                 blocks: dict[str, int]) -> None:
        self.module, self.name, self.configs, self.key, self.blocks = module, name, configs, key, blocks
        self._launchers: dict[bool, tuple[object, bool]] = {}

    def raw(self, interpreted: bool = False):
        """The undecorated-by-autotune kernel object (compiled as imported, or the interpreted twin's)."""
        module = importlib.import_module(self.module)
        kernel = getattr(module, self.name)
        if interpreted and not is_interpreted(kernel):
            kernel = getattr(_twin(module), self.name)
        return kernel

    def _launcher(self, device: torch.device):
        want_interpreter = device.type != "cuda"
        if want_interpreter not in self._launchers:
            kernel = self.raw(want_interpreter)
            interpreted = is_interpreted(kernel)
            launcher = kernel if interpreted else triton.autotune(self.configs(), key=self.key)(kernel)
            self._launchers[want_interpreter] = (launcher, interpreted)
        return self._launchers[want_interpreter]

    def __call__(self, device: torch.device, grid, *args, **constants) -> None:
        launcher, interpreted = self._launcher(device)
        if interpreted:
            constants = {**self.blocks, **constants}
        launcher[grid](*args, **constants)

    def interpreted_on(self, device: torch.device | str) -> bool:
        """Whether a launch on ``device`` runs in the interpreter."""
        return self._launcher(torch.device(device))[1]
