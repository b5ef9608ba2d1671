# After examples/datasets/dataset_creation.py: create a dataset from a downloaded folder.
import os

from dagstore import Dataset

dataset_path = os.path.join(os.environ["SCENARIO_DATA"], "cifar-10-batches-py")  # was: StorageManager download

dataset = Dataset.create(dataset_name="cifar_dataset", dataset_project="dataset_examples")

# Prepare and clean data here before it is added to the dataset

dataset.add_files(path=dataset_path)

# Dataset is uploaded to the ClearML Server by default
dataset.upload()

dataset.finalize()
print("created", dataset.project, dataset.name, dataset.version, "files:", len(dataset.list_files()))
