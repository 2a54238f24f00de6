#!/usr/bin/env bash
# Runbook for a session that is lent the GPU machine (a bare H100/H200: torch 2.11 + CUDA, numpy,
# imageio, opencv, pyyaml, tqdm, matplotlib, pytest; no internet; 10 min per call, 30 min per
# session; only the checkout travels, 64 MiB). Fills the GPU rows of BENCHMARKS.md.
#
# Here, on the CPU machine, pack what one call needs into the ignored folder carry/:
#     scripts/gpu_session.sh pack lego          # lego 400x400 (50 MB) + nerfacc wheel + LPIPS weights
#     scripts/gpu_session.sh pack fox           # fox images + transforms.json (24 MB), same extras
# Then, through the device tool, with carry=["carry"] (one stage per call, each < 10 min):
#     scripts/gpu_session.sh bench              # make bench on lego: (a)-(e), PSNR at 30/60/120/300 s (~8 min)
#     scripts/gpu_session.sh tests              # GPU-marked tests: nerfacc JIT build + parity, GPU repro (~4 min)
#     scripts/gpu_session.sh lego               # issue 2 bar: lego, full preset, 5 min train + 200 test views
#     scripts/gpu_session.sh fox                # fox at half resolution, automatic CUDA defaults (unbounded,
#                                               # contracted), 2 minutes, held-out PSNR + depth + orbit frames
#     scripts/gpu_session.sh lego-auto          # lego 400x400 with the automatic CUDA defaults (no preset), 5 min
#     scripts/gpu_session.sh fit-image          # issue 8: the paper preset on a fox frame (pack fox)
# Every stage writes its logs and JSON under $OUT, which comes back to this machine.
# imageio-ffmpeg's wheel (68 MB) does not fit the carry limit: on the device, videos are written as
# PNG frames (render --out DIR) and frames per second come from the bench's (d) line.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: scripts/gpu_session.sh pack lego|fox | bench | tests | lego | lego-auto | fox | fit-image}
OUT=${OUT:-/tmp/nerf_ff_out}
mkdir -p "$OUT"

if [ "$stage" = pack ]; then
    what=${2:?pack lego or pack fox}
    rm -rf carry && mkdir -p carry/datasets carry/cache/lpips carry/whl
    grep -qx '/carry/' .git/info/exclude || echo /carry/ >> .git/info/exclude
    case $what in
        lego) mkdir -p carry/datasets/nerf_synthetic_400 && cp -r ../shared/datasets/nerf_synthetic_400/lego carry/datasets/nerf_synthetic_400/ ;;
        fox) cp -r ../shared/datasets/ngp_fox carry/datasets/ ;;
        *) echo "pack lego or pack fox" >&2; exit 2 ;;
    esac
    cp ~/.cache/nerf_ff/lpips/*.npz carry/cache/lpips/
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 -d carry/whl nerfacc==0.5.3
    du -sh carry
    exit 0
fi

# On the device: carried wheels into /tmp/site, the package from the checkout, data from carry/.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site carry/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
export NERF_FF_DATASETS=$PWD/carry/datasets NERF_FF_CACHE=$PWD/carry/cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
py() { python3 "$@"; }
ff() { python3 -m nerf_ff.cli "$@"; }

case $stage in
    bench) py scripts/bench.py --marks 30,60,120,300 --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log" ;;
    tests) py -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$OUT/tests.log" ;;
    lego) ff train lego --config full --out "$OUT/lego" --quiet 2>&1 | tee "$OUT/lego.log"
          ff render "$OUT/lego" --frames 120 --resolution 400x400 --out "$OUT/lego/orbit" --quiet 2>&1 | tee -a "$OUT/lego.log" ;;
    fox) ff train fox --set scene.downscale=2 --time-budget 120 --out "$OUT/fox" --quiet 2>&1 | tee "$OUT/fox.log"
         ff render "$OUT/fox" --frames 60 --outputs rgb,depth --out "$OUT/fox/orbit" --quiet 2>&1 | tee -a "$OUT/fox.log" ;;
    lego-auto) ff train lego --time-budget 300 --out "$OUT/lego-auto" --quiet 2>&1 | tee "$OUT/lego-auto.log" ;;
    fit-image) ff fit-image carry/datasets/ngp_fox/images/0001.jpg --preset paper --out "$OUT/fit" 2>&1 | tee "$OUT/fit.log" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
esac
