"""Compile the Triton FAC kernels for a GPU architecture without a GPU, and report registers and spills.

Why: the interpreter (how the tests run on the CPU) checks what the kernels
compute, not whether they compile for real hardware or how they use it.
Triton can compile ahead of time with its bundled ptxas; cuobjdump then reads
each cubin's registers and stack (a stack > 0 means spilled registers, which
is slow). Run it after changing a kernel or its autotune configurations.

    python benchmarks/compile_kernels.py                  # sm_90 (H100), all autotune configs, fp32/fp16/bf16
    python benchmarks/compile_kernels.py --arch 80 --dtypes fp16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from deblur_cli.ops import fac_triton as ft  # noqa: E402

KERNELS = {
    "forward": (ft._fac_forward_kernel, ft._elementwise_configs),
    "grad_filters": (ft._fac_grad_filters_kernel, ft._elementwise_configs),
    "grad_padded_input": (ft._fac_grad_padded_input_kernel, ft._elementwise_configs),
    "fused_filter_fac": (ft._fused_filter_fac_kernel, ft._fused_configs),
}


def _signature(fn, constants: dict, dtype: str) -> dict[str, str]:
    def kind(name: str) -> str:
        if name in constants:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*fp32" if name == "gpad_ptr" else f"*{dtype}"  # the padded gradient is always float32
        return "i32"

    return {name: kind(name) for name in fn.arg_names}


def _resource_usage(cubin: bytes) -> str:
    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
        fh.write(cubin)
        fh.flush()
        out = subprocess.run([str(cuobjdump), "-res-usage", fh.name], capture_output=True, text=True).stdout
    fields = next((line.split() for line in out.splitlines() if "REG:" in line), ["REG:?", "STACK:?"])
    return " ".join(fields[:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability x10 (90 = H100)")
    parser.add_argument("--dtypes", default="fp32,fp16,bf16")
    args = parser.parse_args()
    target = GPUTarget("cuda", args.arch, 32)
    for dtype in args.dtypes.split(","):
        for name, (fn, configs) in KERNELS.items():
            for config in configs():
                constants = dict(config.kwargs, KSIZE=5)
                if name == "fused_filter_fac":
                    constants.update(NEG_SLOPE=0.1, K_FEAT=128, DOT_PRECISION="tf32" if dtype == "fp32" else "ieee")
                options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
                kernel = triton.compile(ASTSource(fn, _signature(fn, constants, dtype), constants), target=target,
                                        options=options)
                ptx = kernel.asm["ptx"]
                unit = "wgmma" if "wgmma" in ptx else "mma" if "mma.sync" in ptx else "fma"
                print(f"sm_{args.arch} {dtype:>4} {name:>17} P={config.kwargs['BLOCK_P']:<3} C={config.kwargs['BLOCK_C']:<3} "
                      f"warps={config.num_warps} stages={config.num_stages}: {_resource_usage(kernel.asm['cubin'])} "
                      f"smem {kernel.metadata.shared} B, {unit}", flush=True)


if __name__ == "__main__":
    main()
