"""Datasets: ``<name>_dataset.py`` defines ``<Name>Dataset(BaseDataset)``; found by name through the registry."""

from motionlab import registry


def find_dataset_using_name(name: str):
    return registry.find_class(registry.DATASETS, name)


def registered_datasets() -> dict:
    return registry.registered(registry.DATASETS)
