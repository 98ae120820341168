"""Names of the local executors (kept free of imports, so the CLI can offer them without loading Dagster)."""

EXECUTORS = ("threadpool", "multiprocess", "in_process")
DEFAULT_EXECUTOR = "threadpool"
