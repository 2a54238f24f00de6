#!/bin/bash
# fox, no preset, 300 s: with one busy process beside it and idle; OMP_NUM_THREADS=2 keeps the old fixed
# count (no timing of thread counts), unset it times them. Usage: scripts/threads_fox.sh [OUT] (default /tmp/thr); ~22 minutes.
cd "$(dirname "$0")/.."
run() {  # name load env...
  name=$1; load=$2; shift 2
  rm -rf $OUT/$name
  pids=""
  for i in $(seq 1 $load); do python3 -c "while True: pass" & pids="$pids $!"; done
  env "$@" .venv/bin/nerf-ff train fox --time-budget 300 --quiet --out $OUT/$name > $OUT/$name.log 2>&1
  [ -n "$pids" ] && kill $pids
  echo "$name $(tail -1 $OUT/$name.log)"
}
OUT=${1:-/tmp/thr}
mkdir -p $OUT
run loaded_fixed2 1 OMP_NUM_THREADS=2
run loaded_tuned 1 -u OMP_NUM_THREADS
run idle_tuned 0 -u OMP_NUM_THREADS
run idle_fixed2 0 OMP_NUM_THREADS=2
