"""Measure the GPU's two ceilings once: dense matrix throughput and device-memory bandwidth.

Why: the time floor of a frame is max(FLOPs / matrix rate, bytes / bandwidth);
datasheet rates are only leads, so RESULTS.md compares against these measured
ones. Random data (zeros run faster), warm-up first, CUDA events, median of
repeats.

    python benchmarks/ceilings.py
"""

from __future__ import annotations

import statistics

import torch


def _median_ms(fn, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    name = torch.cuda.get_device_name()
    n = 8192
    for dtype, label in ((torch.bfloat16, "bf16"), (torch.float16, "fp16"), (torch.float32, "tf32")):
        torch.backends.cuda.matmul.allow_tf32 = dtype == torch.float32
        pair = [torch.randn(n, n, device="cuda", dtype=dtype) for _ in range(2)]
        ms = _median_ms(lambda pair=pair: pair[0] @ pair[1])
        print(f"{name}: {n}^3 {label} matmul {ms:.2f} ms = {2 * n**3 / ms / 1e9:.0f} TFLOP/s")
        pair.clear()  # free the operands before the next precision
    src = torch.randn(2**30 // 4 * 2, device="cuda")  # 2 GiB
    dst = torch.empty_like(src)
    ms = _median_ms(lambda: dst.copy_(src))
    moved = 2 * src.numel() * src.element_size()
    print(f"{name}: device-to-device copy of 2 GiB {ms:.2f} ms = {moved / ms / 1e9:.2f} TB/s (read + write)")


if __name__ == "__main__":
    main()
