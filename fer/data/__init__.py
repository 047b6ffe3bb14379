"""Datasets for the FER workbench: `load_dataset` plus the types every loader returns.

    from fer.data import load_dataset
    ds = load_dataset()                          # generated faces (or env FER_DATA)
    ds = load_dataset("../shared/data/fer2013")  # train/<class>/ + test/<class>/ image folders
    ds = load_dataset("fer2013.csv")             # Kaggle CSV (Usage column gives the splits)
"""
from fer.data.dataset import SPLITS, TEST, TRAIN, VAL, DataError, Dataset, LoadReport
from fer.data.loaders import load_dataset

__all__ = ["Dataset", "DataError", "LoadReport", "SPLITS", "TRAIN", "VAL", "TEST", "load_dataset"]
