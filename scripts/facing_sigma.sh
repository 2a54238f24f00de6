#!/usr/bin/env bash
# Forward-facing captures with no preset (BENCHMARKS.md, "Forward-facing: the rig as region of interest, σ
# for cameras inside their box"): the generated forward-facing rig (scripts/make_scenes.py) as transforms.json
# without points and as a COLMAP model (SfM keypoints → depth loss), trained for a fixed number of steps
# (step-paced: a loaded CPU changes the wall time, not the result). Box: the automatic one (the rig's region of
# interest) or, with --set scene.aabb, the sparse points' central box (the rule before, kept as the scene's
# subject_box). σ: automatic, or each of SIGMAS on the transforms.json scene (39 was the automatic σ before).
#   scripts/facing_sigma.sh OUT [SIGMAS]     (default SIGMAS "6 10 20 39"; 2-3 minutes a run on 2 idle cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/facing_sigma.sh OUT [SIGMAS]}
SIGMAS=${2:-6 10 20 39}
STEPS=${STEPS:-3000}
NERF_FF=${NERF_FF:-.venv/bin/nerf-ff}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
[ -d "$OUT/scenes/facing_ngp_ply" ] || "$PY" scripts/make_scenes.py "$OUT/scenes"
POINTS_BOX=$("$PY" -c "import sys; from nerf_ff.config import SceneConfig; from nerf_ff.data import load_scene
print(','.join(f'{v!r}' for v in load_scene(SceneConfig(name='f', path=sys.argv[1])).meta['subject_box']))" \
  "$OUT/scenes/facing_colmap" 2>/dev/null)
run() {  # name, scene, then more train arguments
  local name=$1 scene=$2; shift 2
  [ -f "$OUT/$name/metrics.json" ] || { rm -rf "${OUT:?}/$name"
    "$NERF_FF" train "$OUT/scenes/$scene" --out "$OUT/$name" --steps "$STEPS" --set train.time_budget=null "$@" \
      --quiet > "$OUT/$name.log" 2>&1; }
  echo "$name: $(grep -o 'σ=[0-9.]*' "$OUT/$name.log" | head -1) $(tail -1 "$OUT/$name.log")"
}
run ngp_auto facing_ngp
run ngp_points_box facing_ngp --set "scene.aabb=$POINTS_BOX"
run colmap_auto facing_colmap
run colmap_points_box facing_colmap --set "scene.aabb=$POINTS_BOX"
for s in $SIGMAS; do run "ngp_s$s" facing_ngp --sigma "$s"; done
