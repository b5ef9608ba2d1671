"""Annotations: what the files of a version mean (schema ``dagstore.annotation/1``), the
dataset-level class list, media probing and the importers. Imports only from the core."""

from .classes import ClassList, default_color, merge_class_lists
from .errors import AnnotationError, ClassListError, ImportSourceError
from .report import ImportReport
from .schema import SCHEMA, decode, encode, labels_of, top_labels, validate

__all__ = [
    "SCHEMA", "validate", "encode", "decode", "labels_of", "top_labels",
    "ClassList", "merge_class_lists", "default_color",
    "AnnotationError", "ClassListError", "ImportSourceError", "ImportReport",
]
