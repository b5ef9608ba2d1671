# After examples/datasets/csv_dataset_creation.py: a dataset of a single CSV file.
import os

from dagstore import Dataset


def main():
    print("STEP1 : Downloading CSV dataset")
    csv_file_path = os.path.join(os.environ["SCENARIO_DATA"], "Iris_Species.csv")  # was: StorageManager download

    print("STEP2 : Creating a dataset")
    simple_dataset = Dataset.create(dataset_project="dataset_examples", dataset_name="CSV_Dataset")

    print("STEP3 : Adding CSV file to the Dataset")
    simple_dataset.add_files(path=csv_file_path)

    print("STEP4 : Upload and finalize")
    simple_dataset.upload()
    simple_dataset.finalize()

    print("We are done, have a great day :)")
    print("files:", simple_dataset.list_files())


if __name__ == "__main__":
    main()
