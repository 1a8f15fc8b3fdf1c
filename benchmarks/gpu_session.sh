#!/usr/bin/env bash
# Everything this project needs a GPU for, in two prepared calls on a lent machine.
#
#   benchmarks/gpu_session.sh train   # continue the newest weights for a time, score and judge them (gpu_train.sh)
#   benchmarks/gpu_session.sh bench   # ceilings, model-only and file-to-file benchmarks, tiling memory, profile
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
  step "ceilings"
  timeout 40 python3 benchmarks/ceilings.py 2>&1 | tee "$OUT/ceilings.txt"
  step "model only"
  timeout 200 python3 benchmarks/bench_model.py --sizes "${BENCH_SIZES:-960x540,1280x720,1920x1080,3840x2160}" \
    --paths reference,fast --frames 15 --warmup 3 2>&1 | tee "$OUT/bench_model.txt"
  step "file to file"
  {
    timeout 60 python3 benchmarks/bench_file.py --size 1280x720 --frames 300 --fp16 --preset veryfast
    timeout 60 python3 benchmarks/bench_file.py --size 1280x720 --frames 300 --fp16 --codec h264_nvenc
    timeout 60 python3 benchmarks/bench_file.py --size 1280x720 --frames 60 --fac reference
    timeout 60 python3 benchmarks/bench_file.py --size 3840x2160 --frames 20 --fp16 --tile 512 --preset ultrafast
  } 2>&1 | tee "$OUT/bench_file.txt"
  step "profile"
  timeout 60 python3 benchmarks/profile_model.py --size 1280x720 --dtype fp16 --path fast 2>&1 | tee "$OUT/profile.txt"
else
  echo "unknown phase $phase" >&2
  exit 2
fi
step "done"
