# After examples/datasets/data_ingestion.py (run dataset_creation.py first): the part that
# reads the dataset; the training with torch/ignite and Task.init are left out.
import os

from dagstore import Dataset

dataset_name = "cifar_dataset"
dataset_project = "dataset_examples"

# The below gets the dataset and stores in the cache. If you want to download the dataset regardless if it's in the
# cache, use the Dataset.get(dataset_name, dataset_project).get_mutable_local_copy(path to download)
# Dataset need to have finalized or closed state to get the local copy of it
dataset_path = Dataset.get(
    dataset_name=dataset_name, dataset_project=dataset_project, only_completed=False
).get_local_copy()

print("dataset_path holds:", sorted(os.listdir(dataset_path)))
