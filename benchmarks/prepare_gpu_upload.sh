#!/usr/bin/env bash
# Prepare, in this checkout, what the GPU training call carries, and check the upload fits.
#
#   benchmarks/prepare_gpu_upload.sh        # then: run(carry=[".gpu"], command="benchmarks/gpu_session.sh train")
#
# .gpu/train-images  the training photos (from ../shared/train-images, SOURCES.md with them)
# .gpu/wheels        fallback wheels for Python 3.12 manylinux x86_64 of what the training path imports
#                    besides torch and numpy (the lent H200 image has them all; gpu_train.sh installs
#                    one only if its module is missing there). PyAV is not needed for training.
# .gpu/ is ignored through git's info/exclude, so it travels only when named in `carry`.
# The upload (tracked + untracked-not-ignored files + .gpu) must stay under 64 MiB.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
SRC=${IMAGES_SRC:-../shared/train-images}
LIMIT=$((64 * 1024 * 1024))

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"

mkdir -p .gpu/train-images .gpu/wheels
cp -p "$SRC"/*.jpg "$SRC"/SOURCES.md .gpu/train-images/
echo "photos: $(ls .gpu/train-images/*.jpg | wc -l) files, $(du -sh .gpu/train-images | cut -f1)"

# Current releases as Python 3.12 manylinux x86_64 wheels, without dependencies (each is named here).
rm -f .gpu/wheels/*.whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d .gpu/wheels \
  safetensors click rich markdown-it-py mdurl pygments imageio pillow
echo "wheels: $(ls .gpu/wheels | tr '\n' ' ')"

tracked=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null \
          | awk '{s += $1} END {print s + 0}')
carried=$(find .gpu -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tracked + carried))
printf 'upload: working tree %.1f MiB + .gpu %.1f MiB = %.1f MiB (limit 64 MiB)\n' \
  "$(echo "$tracked / 1048576" | bc -l)" "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -ge "$LIMIT" ]; then
  echo "error: the upload is over 64 MiB" >&2
  exit 1
fi
