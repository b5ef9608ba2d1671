# The ClearML dataset path of ultralytics/yolov5 (utils/loggers/clearml/clearml_utils.py,
# construct_dataset): `--data clearml://<id>` fetches the dataset, finds the one YAML file at
# its root and resolves train/val/test against the local copy. Written after that code.
import glob
import sys
from pathlib import Path

import yaml

from dagstore import Dataset


def construct_dataset(clearml_info_string):
    dataset_id = clearml_info_string.replace("clearml://", "")
    dataset = Dataset.get(dataset_id=dataset_id)
    dataset_root_path = Path(dataset.get_local_copy())

    yaml_filenames = glob.glob(str(dataset_root_path / "*.yaml")) + glob.glob(str(dataset_root_path / "*.yml"))
    if len(yaml_filenames) != 1:
        raise ValueError(f"expected exactly one yaml file in the dataset root, found {len(yaml_filenames)}")
    with open(yaml_filenames[0]) as f:
        definition = yaml.safe_load(f)
    assert {"train", "test", "val", "nc", "names"} <= set(definition), "the yaml lacks train/test/val/nc/names"

    data = {}
    for split in ("train", "test", "val"):
        data[split] = str((dataset_root_path / definition[split]).resolve()) if definition[split] else None
    data["nc"] = definition["nc"]
    data["names"] = definition["names"]
    return data


if __name__ == "__main__":
    data = construct_dataset(sys.argv[1])
    print("nc:", data["nc"], "names:", data["names"])
    for split in ("train", "val", "test"):
        folder = data[split]
        print(split, "->", len(list(Path(folder).iterdir())) if folder else None, "images")
