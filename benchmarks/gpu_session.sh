#!/usr/bin/env bash
# Everything this project needs a GPU for, in two prepared calls on a lent machine.
#
#   benchmarks/gpu_session.sh train   # continue the newest weights for a time, score and judge them (gpu_train.sh)
#   benchmarks/gpu_session.sh bench   # ceilings, model only (reference/fast/graphs/compile, 540p-2160p), profile,
#                                     # file to file at 720p with stage tables (colour on the GPU and on the CPU),
#                                     # GPU tests; RESULTS.md-ready tables in $OUT/results.md
#
# Results go to $OUT (default ./gpu-out). Where PyAV is not installed, wheels in
# .whl/ are installed first (the lent machines have torch and triton, not av).
# Each step is bounded by `timeout` and a failing step does not stop the ones after it.
# Knobs (environment): IMAGES, TRAIN_SECONDS, TRAIN_BATCH, TRAIN_SIZE, WORKERS, VAL_CLIPS, DEVICE, BENCH_SIZES.
set -u -o pipefail
phase=${1:?usage: gpu_session.sh train|bench}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ! python3 -c "import av" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
IMAGES=${IMAGES:-.gpu/train-images}
DEVICE=${DEVICE:-cuda}
WEIGHTS=$OUT/stfan_synth_v1.safetensors
cli() { python3 -m deblur_cli "$@"; }
step() { echo "== $(date +%T) $*"; }

if [ "$phase" = train ]; then
  # The prepared call that advances the weights (bench, train on the clock, score, judge): see gpu_train.sh.
  OUT=$OUT bash benchmarks/gpu_train.sh
elif [ "$phase" = bench ]; then
  # One call, about 7 minutes (step timeouts sum to 580 s), 8 files under $OUT (the run tool returns 8): env.txt
  # ceilings.txt bench_model.txt profile.txt bench_file.txt bench_strength_file.txt tests.txt and results.md, the tables
  # for benchmarks/RESULTS.md. The exact device call is in benchmarks/RESULTS.md ("Measuring on a GPU").
  MD=$OUT/results.md
  { nvidia-smi -L; python3 -c "import torch, triton; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'cuDNN', torch.backends.cudnn.version(), 'triton', triton.__version__)"; python3 -c "import av; print('av', av.__version__)"
  } 2>&1 | tee "$OUT/env.txt"
  printf '## H200 run %s\n\n```\n%s\n```\n\n' "$(date -u +%F)" "$(cat "$OUT/env.txt")" > "$MD"
  step "ceilings"
  timeout 30 python3 benchmarks/ceilings.py 2>&1 | tee "$OUT/ceilings.txt"
  printf '### Ceilings\n\n```\n%s\n```\n\n' "$(cat "$OUT/ceilings.txt")" >> "$MD"
  step "model only, fp16: reference and fast paths 540p-2160p; 2160p in tiles; torch.compile at 720p"
  {
    timeout 160 python3 benchmarks/bench_model.py --sizes "${BENCH_SIZES:-960x540,1280x720,1920x1080,3840x2160}" \
      --dtypes fp16 --paths reference,fast-prev,fast-taps,fast,fast-graphs --frames 12 --warmup 3 --markdown "$MD" \
      --title "Model only, fp16"
    timeout 50 python3 benchmarks/bench_model.py --sizes 1280x720,1920x1080 --dtypes fp16 --paths fast,warp,warp-graphs \
      --frames 12 --warmup 3 --markdown "$MD" --title "Alignment filters never stored (opt-in fused_warp_fac), fp16"
    timeout 45 python3 benchmarks/bench_model.py --sizes 3840x2160 --dtypes fp16 --paths fast --tile 1024 \
      --frames 6 --warmup 2 --markdown "$MD" --title "Model only, 2160p in tiles of 1024, fp16"
    timeout 80 python3 benchmarks/bench_model.py --sizes 1280x720 --dtypes fp16 --paths compile,compile-graphs \
      --frames 15 --warmup 3 --markdown "$MD" --title "torch.compile (includes compile time in warm-up), 720p fp16"
  } 2>&1 | tee "$OUT/bench_model.txt"
  step "profile: where the time goes, 720p fp16, fast path (eager: stage timers need it)"
  timeout 40 python3 benchmarks/profile_model.py --size 1280x720 --dtype fp16 --path fast --markdown "$MD" \
    2>&1 | tee "$OUT/profile.txt"
  step "file to file, 720p fp16 (CUDA graphs on, as run uses them): colour on the GPU, then on the CPU; stage tables"
  # The encoder runs with run's defaults (libx264 faster, frame threads: io/encode_plan.py). One clip, one warm
  # engine, two runs (--device-colour auto = on the GPU, off = swscale on the CPU), each with its stage table.
  timeout 60 python3 benchmarks/bench_file.py --size 1280x720 --frames 300 --fp16 --device-colour auto,off \
    2>&1 | tee "$OUT/bench_file.txt"
  printf '### File to file, 720p fp16, with the stage table\n\n%s\n\n' \
    "$(grep -v '^generated' "$OUT/bench_file.txt")" >> "$MD"
  step "file to file, 720p fp16, --strength auto (run's default): what the weight map costs"
  timeout 25 python3 benchmarks/bench_file.py --size 1280x720 --frames 150 --fp16 --strength auto \
    2>&1 | tee "$OUT/bench_strength_file.txt"
  printf '### File to file, 720p fp16, --strength auto\n\n%s\n\n' \
    "$(grep -v '^generated' "$OUT/bench_strength_file.txt")" >> "$MD"
  step "kernels, epilogue, graphs and colour conversion against their references, on the GPU"
  timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_graphs.py tests/test_epilogue.py \
    tests/test_device_colour.py tests/test_fac_triton.py tests/test_stages.py \
    -k "not golden and not cpu_tensors and (not test_stages or cuda)" 2>&1 | tail -25 | tee "$OUT/tests.txt"
else
  echo "unknown phase $phase" >&2
  exit 2
fi
step "done"
