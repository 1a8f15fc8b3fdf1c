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
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from deblur_cli.ops import epilogue, fac_fused  # noqa: E402
from deblur_cli.ops import fac_triton as ft  # noqa: E402

# name -> (launcher, extra compile-time constants). Like Triton at run time, strides equal to 1 are
# specialised (here: channels_last tensors, tap-major filters for "forward", STFAN's fast path) and
# pointers and the other strides are taken as multiples of 16, so the report shows the vector
# width of the loads (ld.global.v4 = 16 bytes) the GPU will run.
CL = {"si_c": 1, "so_c": 1}
KERNELS = {
    "forward": (ft.FORWARD, {"KSIZE": 5, "f_cs": 1, **CL}),
    "forward_taps": (ft.FORWARD_TAPS, {"KSIZE": 5, "TAPS": 32, "sf_c": 1, **CL}),
    "grad_filters": (ft.GRAD_FILTERS, {"KSIZE": 5}),
    "grad_padded_input": (ft.GRAD_PADDED, {"KSIZE": 5}),
    "fused_filter_fac": (fac_fused.FUSED, {"KSIZE": 5, "NEG_SLOPE": 0.1, "K_FEAT": 128, **CL}),
    "fused_warp_fac": (fac_fused.FUSED_WARP, {"KSIZE": 5, "NEG_SLOPE": 0.1, "K_FEAT": 128, "C4": 128, **CL,
                                              "s4_c": 1}),
    "bias_act": (epilogue.BIAS_ACT, {"CHANNELS_LAST": True, "ACT": True, "RESIDUAL": True}),
}
NOT_MULTIPLES_OF_16 = {"H", "HP", "WP", "HWP", "slope"}  # frame heights (180 at 720p), padded sizes, floats


def _signature(fn, constants: dict, dtype: str) -> dict[str, str]:
    def kind(name: str) -> str:
        if name in constants:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*fp32" if name == "gpad_ptr" else f"*{dtype}"  # the padded gradient is always float32
        return "fp32" if name == "slope" else "i32"

    return {name: kind(name) for name in fn.arg_names}


def _attrs(fn, constants: dict) -> dict:
    return {(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
            if name not in constants and name not in NOT_MULTIPLES_OF_16}


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
        for name, (launcher, extra) in KERNELS.items():
            fn = launcher.raw()
            for config in launcher.configs():
                constants = dict(config.kwargs, **extra)
                if name.startswith("fused"):
                    constants["DOT_PRECISION"] = "tf32" if dtype == "fp32" else "ieee"
                options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
                source = ASTSource(fn, _signature(fn, constants, dtype), constants, _attrs(fn, constants))
                kernel = triton.compile(source, target=target, options=options)
                ptx = kernel.asm["ptx"]
                unit = "wgmma" if "wgmma" in ptx else "mma" if "mma.sync" in ptx else "fma"
                widest = max((int(v) for v in re.findall(r"ld\.global\.v(\d)", ptx)), default=1)
                blocks = " ".join(f"{k.removeprefix('BLOCK_') or 'BLOCK'}={v:<4}" for k, v in config.kwargs.items())
                print(f"sm_{args.arch} {dtype:>4} {name:>17} {blocks} warps={config.num_warps} "
                      f"stages={config.num_stages}: {_resource_usage(kernel.asm['cubin'])} "
                      f"smem {kernel.metadata.shared} B, {unit}, widest load v{widest}", flush=True)

if __name__ == "__main__":
    main()
