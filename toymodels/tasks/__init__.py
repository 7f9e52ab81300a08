"""Tasks: full input/label tables that live on the device; members differ only by masks and indices."""
from .data import EnsembleData, TaskTable, ensemble_data, image_table, symbolic_table
from .operations import OPERATIONS, operation_table
from .batching import sample_batch

__all__ = ["EnsembleData", "TaskTable", "ensemble_data", "image_table", "symbolic_table", "OPERATIONS",
           "operation_table", "sample_batch"]
