#!/bin/bash
# Every issue-19/22 benchmark, one command after another, as the quiet-run tables of docs/performance.md
# were made. Usage: benchmarks/suite.sh LOG_DIR [BEFORE_CHECKOUT]
#   LOG_DIR          one log per command
#   BEFORE_CHECKOUT  another checkout (e.g. a worktree of the previous release) whose W1/W2/W3 rows and
#                    W1 phases are measured interleaved with this one's
# Outputs: W1/W2/W3 data and stores under $BENCH_DISK (default bench-out/suite, on the project disk) and
# $BENCH_TMPFS (default /dev/shm/dagstore-bench); the peers (DVC, Datumaro, the Label Studio converter)
# install into bench-out/ on first use (benchmarks/README.md). About 25 minutes on 2 cores once the data
# exist; run it on an otherwise idle machine.
set -u
cd "$(dirname "$0")/.."
P=${PYTHON:-.venv/bin/python}
L=${1:?usage: benchmarks/suite.sh LOG_DIR [BEFORE_CHECKOUT]}
BEFORE=${2:-}
DISK=${BENCH_DISK:-bench-out/suite}
TMPFS=${BENCH_TMPFS:-/dev/shm/dagstore-bench}
mkdir -p "$L"
compare=()
[ -n "$BEFORE" ] && compare=(--compare "$BEFORE")
log() { echo "=== $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg) :: $*"; }
run() { local name=$1; shift; log "$name"; (time "$@") > "$L/$name.log" 2>&1 || log "$name FAILED (see $L/$name.log)"; }
log "start $(git log --oneline -1 | cut -c1-60)"
run disk $P -m benchmarks.run --only w1,w2,w3 --no-peers --repeat 3 --out "$DISK" "${compare[@]}"
run tmpfs $P -m benchmarks.run --only w1 --no-peers --repeat 3 --out "$TMPFS" "${compare[@]}"
run phases $P -m benchmarks.phases "$TMPFS/data/full/w1" --root "$TMPFS/phases" --repeat 5 ${BEFORE:+"$BEFORE"} .
run realtree $P -m benchmarks.realtree --repeat 2 --peer-repeat 1 --out "$DISK/realtree"
run exports $P -m benchmarks.exports --images 50000 --rss-factor 1 --repeat 2
run coco $P -m benchmarks.annotations --images 50000 --boxes 5 --entries 0 --repeat 3
run columnar $P -m benchmarks.columnar --entries 1000000 --big 10000000 --out "$DISK/columnar"
for i in 1 2 3; do run "dask$i" $P -m benchmarks.dask --files 200000 --images 50000 --workers 2 --work "$DISK/dask"; done
log done
