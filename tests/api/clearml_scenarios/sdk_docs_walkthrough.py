# The snippets of ClearML's SDK page (clearml-docs, docs/clearml_data/clearml_data_sdk.md),
# in order, with ids and paths filled in.
import os
from pathlib import Path

from dagstore import Dataset

data = Path(os.environ["SCENARIO_DATA"])

# Creating datasets
parent_1 = Dataset.create(dataset_name="dataset name", dataset_project="dataset project", dataset_tags=["my tag"])
parent_1.add_files(path=data / "MNIST" / "TRAIN")
parent_1.upload()
parent_1.finalize()
parent_2 = Dataset.create(dataset_name="dataset name 2", dataset_project="dataset project")
parent_2.add_files(path=data / "MNIST" / "TEST", dataset_path="TEST")
parent_2.finalize(auto_upload=True)
dataset = Dataset.create(
    dataset_name="dataset name",
    dataset_project="dataset project",
    parent_datasets=[parent_1.id, parent_2.id],
    dataset_version="1.2",
    description="my dataset description",
)

# Modifying datasets
dataset.add_files(path=data / "Iris_Species.csv")
dataset.add_files(path=data / "MNIST", wildcard="*.png", recursive=True)
dataset.add_external_files(source_url=f"file://{data / 'Iris_Species.csv'}", dataset_path="/my_dataset/new_folder/")
removed = dataset.remove_files(dataset_path="*.csv", recursive=True)
print("removed csv files:", removed)
dataset.upload()
dataset.finalize()

# Accessing datasets
got = Dataset.get(
    dataset_id=None,
    dataset_project="dataset project",
    dataset_name="dataset name",
    dataset_tags="my tag",
    only_completed=True,
    only_published=False,
)
print("get by tag:", got.version, got.tags)
print("get by version:", Dataset.get(dataset_project="dataset project", dataset_name="dataset name", dataset_version="1.2").version)
print("read-only copy:", len(os.listdir(Dataset.get(dataset_id=dataset.id).get_local_copy())), "entries at the root")

# Squashing
squashed_dataset_1 = Dataset.squash(dataset_name="squashed dataset's name", dataset_ids=[parent_1.id, parent_2.id, dataset.id])
squashed_dataset_2 = Dataset.squash(
    dataset_name="squashed dataset 2",
    dataset_project_name_pairs=[("dataset project", "dataset name 2")],
)
print("squashed:", len(squashed_dataset_1.list_files()), "and", len(squashed_dataset_2.list_files()), "files")

# Listing
for d in Dataset.list_datasets(dataset_project="dataset project"):
    print("listed:", d["name"], d["version"], d["created"].year)

# Deleting: several versions of "dataset name" match, so the version is needed
try:
    Dataset.delete(dataset_project="dataset project", dataset_name="dataset name", force=False, entire_dataset=False)
except Exception as exc:
    print("delete refused:", exc)
Dataset.delete(
    dataset_id=None,
    dataset_project="dataset project",
    dataset_name="squashed dataset 2",
    force=False,
    dataset_version="1.0.0",
    entire_dataset=False,
)

# Renaming and moving
Dataset.rename(new_dataset_name="New name", dataset_project="dataset project", dataset_name="dataset name 2")
Dataset.move_to_project(new_dataset_project="New project", dataset_project="dataset project", dataset_name="New name")
print("moved:", [(d["project"], d["name"]) for d in Dataset.list_datasets(dataset_project="New project")])
