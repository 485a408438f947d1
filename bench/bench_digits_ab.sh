#!/bin/bash
# The digits quick demo (`automl search --task digits --trials 5`) at an older commit and at the
# working tree, alternately, on the same host: is it still no slower and no worse?
#
#     bench/bench_digits_ab.sh 72c72f8 2
#
# Each run gets a fresh directory and store; prints seconds and test accuracy per run.
set -euo pipefail
old_rev=${1:?usage: bench/bench_digits_ab.sh OLD_REV [ROUNDS]}
rounds=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$scratch/old" >/dev/null 2>&1; rm -rf "$scratch"' EXIT
git -C "$here" worktree add -q "$scratch/old" "$old_rev"
for round in $(seq "$rounds"); do
  for which in old new; do
    root=$here; [ "$which" = old ] && root=$scratch/old
    run=$scratch/$which-$round; mkdir -p "$run"
    start=$(date +%s.%N)
    (cd "$run" && PYTHONPATH=$root AUTOML_PROGRESS_BAR=0 "$here/.venv/bin/python" -c \
      "import sys; from automl.cli import main; sys.exit(main())" \
      search --task digits --trials 5 --storage "sqlite:///$run/a.db" --artifacts "$run/art" \
      > "$run/out.log" 2>&1)
    end=$(date +%s.%N)
    echo "$which round $round: $(echo "$end - $start" | bc) s; $(grep -o 'test accuracy [0-9.]*' "$run/out.log")"
  done
done
