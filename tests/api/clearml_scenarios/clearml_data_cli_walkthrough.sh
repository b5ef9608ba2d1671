#!/usr/bin/env bash
# The clearml-data walkthrough of ClearML's docs (create, add, close, list, sync, search,
# set-description, delete) and YOLOv5's "clearml-data sync" instruction, with `clearml-data`
# replaced by `dagstore`. Ids are taken from each command's last line ("id: <id>").
set -euo pipefail
DATA="$SCENARIO_DATA"
CLI="${DAGSTORE:-dagstore}"
run() { echo "\$ dagstore $*" | sed "s#$DATA/##g"; "$CLI" "$@" 2>&1; }
last_id() { tail -1 | cut -d' ' -f2; }

run create --project dataset_examples --name cli_dataset
run add --files "$DATA/MNIST/TRAIN" --dataset-folder TRAIN
OUT=$(run close); echo "$OUT"; ID=$(echo "$OUT" | last_id)
run list --id "$ID" --filter "TRAIN/0/*"
run create --parents "$ID" --proj dataset_examples --name cli_dataset   # --proj: a prefix, as argparse allows
OUT=$(run sync --folder "$DATA/MNIST" --chunk-size -1); echo "$OUT"; CHILD=$(echo "$OUT" | last_id)
run set-description --id "$CHILD" --description "train and test"
run search --project dataset_examples
run sync --project YOLOv5 --name coco128 --folder "$DATA/coco128"
run delete --project dataset_examples --name cli_dataset || echo "(exit $?: nothing deleted)"
run delete --project dataset_examples --name cli_dataset --version 1.0.1
run search --project dataset_examples
