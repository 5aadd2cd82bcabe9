"""Storage of a run: Parquet shards written atomically, run state per item, manifest."""
