"""What the local stack keeps across restarts.

- `store`: one SQLite database, `<state-dir>/state.db`: tables, the stream's change log,
  accepted events, S3 objects and endpoints, committed in groups.
- `restore`: load the last run's state into a fresh embedded AWS, then keep every change.
- `space`: whether the disk under them can keep writes now (a full disk refuses new writes).
"""

__all__ = ["restore", "space", "store"]
