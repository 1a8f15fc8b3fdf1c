"""Count STFAN's convolution FLOPs per frame and the time floor they imply on a GPU.

Why: a speed figure means little without the work it does. The count runs the
network on PyTorch's "meta" device (shapes only, no arithmetic), so it is
instant at any size and needs no GPU. FLOPs = 2 x multiply-adds.

    python benchmarks/bench_flops.py                      # 1280x720, H100 SXM datasheet peaks
    python benchmarks/bench_flops.py --size 1920x1080 --peak-tflops 312
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deblur_cli.models import STFAN  # noqa: E402
from deblur_cli.ops.fac import KERNEL_SIZE  # noqa: E402

# Dense (no sparsity) tensor-core peaks from NVIDIA's H100 SXM5 datasheet, TFLOPS.
H100_SXM_PEAK_TFLOPS = {"fp16/bf16 tensor": 989.4, "tf32 tensor": 494.7, "fp32 (no tensor cores)": 66.9}


def _conv_flops(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose2d):
        # Each input pixel scatters a (Cout/groups x kh x kw) patch per input channel.
        x = inputs[0]
        kh, kw = module.kernel_size
        return 2 * x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3] * (module.out_channels // module.groups) * kh * kw
    kh, kw = module.kernel_size
    n, cout, h, w = output.shape
    return 2 * n * cout * h * w * (module.in_channels // module.groups) * kh * kw


def count_flops(height: int, width: int) -> dict[str, int]:
    """Per-frame FLOPs of one steady-state STFAN step (second frame of a clip) at ``height`` x ``width``."""
    model = STFAN().to("meta").eval()
    totals = {"conv": 0, "fac": 0}

    def conv_hook(module, inputs, output):
        totals["conv"] += _conv_flops(module, inputs, output)

    def counting_fac(inp, filters):
        totals["fac"] += 2 * inp.numel() * KERNEL_SIZE * KERNEL_SIZE
        return torch.empty_like(inp)

    model.fac = counting_fac
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    hooks = [m.register_forward_hook(conv_hook) for m in convs]
    frame = torch.empty(1, 3, height, width, device="meta")
    with torch.no_grad():
        _, state = model(frame, None)
        totals["conv"] = totals["fac"] = 0  # count the steady-state step only
        model(frame, state)
    for h in hooks:
        h.remove()
    return totals


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (height, width)."""
    width, height = (int(v) for v in text.lower().split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--peak-tflops", type=float, action="append", help="a GPU peak to compare with (repeatable)")
    args = parser.parse_args()
    height, width = parse_size(args.size)
    flops = count_flops(height, width)
    gflop = flops["conv"] / 1e9
    print(f"STFAN at {width}x{height}: {gflop:.1f} GFLOP of convolutions per frame "
          f"({flops['conv'] / (height * width) / 1e6:.3f} MFLOP per pixel); FAC adds {flops['fac'] / 1e9:.2f} GFLOP")
    peaks = {f"given {p:g}": p for p in args.peak_tflops} if args.peak_tflops else H100_SXM_PEAK_TFLOPS
    print("Time floor if convolutions ran at the peak (real kernels reach a fraction of it):")
    for name, tflops in peaks.items():
        ms = flops["conv"] / (tflops * 1e12) * 1e3
        print(f"  {name:>24} {tflops:7.1f} TFLOPS: {ms:8.2f} ms/frame  ({1e3 / ms:7.1f} fps ceiling)")


if __name__ == "__main__":
    main()
