"""The run's own storage failing: a full disk, a file-size limit, a folder that cannot be written.

Not an item's failure: an item whose request cannot be cached, or whose shard cannot be written, is not
quarantined (its content is fine). The run stops with `OutputWriteError`; what was committed before is kept,
and the same command resumes once the output can be written again.
"""

from __future__ import annotations

import sqlite3

# What writing a file or a SQLite database raises when the storage fails (ENOSPC, EFBIG, EACCES, EROFS, ...).
STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, sqlite3.Error)


class OutputWriteError(Exception):
    """The output folder (shards, state, request cache, manifest) could not be written."""
