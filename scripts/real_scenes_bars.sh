#!/usr/bin/env bash
# The CPU bars of the real-scenes work (BENCHMARKS.md, "Real scenes"): every run with no preset, so the
# automatic defaults (configs/auto/) are what is measured. Needs ../shared/datasets (fox, lego).
#   scripts/real_scenes_bars.sh [OUT]     (about 40 minutes on 2 cores; logs and runs under OUT)
#   BARS="fox fox_refine align" scripts/real_scenes_bars.sh [OUT]     (named stages; align: eval --align of every run)
#   BARS=fox_loaded: fox while other processes load the CPU for its first 5 minutes (the time-budget schedule)
#   EXTRA="--set train.near_grad=1" BARS=facing_llff scripts/real_scenes_bars.sh OUT   (more train arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/nerf_ff_bars}
NERF_FF=${NERF_FF:-.venv/bin/nerf-ff}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
[ -d "$OUT/scenes/portrait_colmap" ] || "$PY" scripts/make_scenes.py "$OUT/scenes"
run() {  # name, then the train arguments
  local name=$1; shift
  if [ -f "$OUT/$name/metrics.json" ]; then echo "$name: done already"; return; fi
  rm -rf "${OUT:?}/$name"
  local t0=$SECONDS
  # shellcheck disable=SC2086  # EXTRA: more train arguments for every stage, e.g. "--set train.near_grad=1"
  "$NERF_FF" train "$@" ${EXTRA:-} --out "$OUT/$name" --quiet > "$OUT/$name.log" 2>&1
  echo "$name: $((SECONDS - t0)) s wall; $(tail -1 "$OUT/$name.log")"
}
for name in ${BARS:-fox object outdoor_ngp outdoor_colmap facing_llff facing_colmap lego}; do
  case $name in
    fox) run fox fox --set scene.downscale=8 --time-budget 600 ;;
    fox_refine) run fox_refine fox --set scene.downscale=8 --time-budget 600 --set train.pose_refine=true ;;
    fox_loaded)  # the same run while 4 busy processes share the CPU for its first 300 s (a laptop doing other work)
      (for _ in 1 2 3 4; do timeout 300 "$PY" -c "while True: pass" & done; wait) &
      run fox_loaded fox --set scene.downscale=8 --time-budget 600; wait ;;
    object) run object "$OUT/scenes/object_blender" --time-budget 150 ;;
    outdoor_ngp) run outdoor_ngp "$OUT/scenes/outdoor_ngp" --time-budget 300 ;;
    outdoor_colmap) run outdoor_colmap "$OUT/scenes/outdoor_colmap" --time-budget 300 ;;
    facing_llff) run facing_llff "$OUT/scenes/facing_llff" --time-budget 300 ;;
    facing_colmap) run facing_colmap "$OUT/scenes/facing_colmap" --time-budget 300 ;;
    lego) run lego lego --set scene.downscale=4 --time-budget 600 ;;
    fisheye_ngp) run fisheye_ngp "$OUT/scenes/fisheye_ngp" --time-budget 300 ;;
    fisheye_colmap) run fisheye_colmap "$OUT/scenes/fisheye_colmap" --time-budget 300 ;;
    transient_ngp) run transient_ngp "$OUT/scenes/transient_ngp" --time-budget 300 ;;
    transient_nomask) run transient_nomask "$OUT/scenes/transient_nomask" --time-budget 300 ;;
    portrait_ngp) run portrait_ngp "$OUT/scenes/portrait_ngp" --time-budget 300 ;;
    portrait_colmap) run portrait_colmap "$OUT/scenes/portrait_colmap" --time-budget 300 ;;
    noisy_ngp) run noisy_ngp "$OUT/scenes/noisy_ngp" --time-budget 300 ;;
    noisy_refine) run noisy_refine "$OUT/scenes/noisy_ngp" --time-budget 300 --set train.pose_refine=true ;;
    outdoor_refine) run outdoor_refine "$OUT/scenes/outdoor_ngp" --time-budget 300 --set train.pose_refine=true ;;
    align)  # every finished run evaluated again with test-time camera alignment (eval --align)
      for run in "$OUT"/*/metrics.json; do
        dir=$(dirname "$run"); [ -f "$dir/checkpoint.pt" ] || continue
        "$NERF_FF" eval "$dir" --align --quiet > "$dir.align.log" 2>&1
        echo "$(basename "$dir") aligned: $(tail -1 "$dir.align.log")"
      done ;;
  esac
done
