"""Task sources. Importing this package registers every built-in source in ``TASK_SOURCES``:

| name | kind | module |
|---|---|---|
| ``arith`` | math | procedural arithmetic / linear-equation word problems (``arith.py``) |
| ``gsm8k``, ``math``, ``math500`` | math | dataset loaders (``math_datasets.py``) |
| ``mbpp``, ``mbpp_sanitized``, ``humaneval`` | code | dataset loaders (``code_datasets.py``) |
| ``codegen`` | code | procedural function-writing tasks (``codegen.py``) |
| ``hint`` | math | the credit lab's HintDyad triples (a, b, c), split as the lab splits them (``hint.py``) |
"""

from . import arith, code_datasets, codegen, hint, math_datasets  # noqa: F401  (registration side effects)
from .base import TASK_SOURCES, ListTaskSource, TaskSource, load_tasks, save_tasks
from .datapaths import DatasetNotFoundError, find_data_file

__all__ = [
    "TASK_SOURCES",
    "DatasetNotFoundError",
    "ListTaskSource",
    "TaskSource",
    "find_data_file",
    "load_tasks",
    "save_tasks",
]
