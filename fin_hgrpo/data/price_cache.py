"""The download cache: one parquet file per ticker and interval, holding the bars fetched
so far and, in the file's metadata, the date range they cover. Each write is atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fin_hgrpo.errors import DataError
from fin_hgrpo.io import atomic_write

_META_KEY = b"fin_hgrpo.coverage"

# a ticker's cached bars and the range [start, end) they cover
Cached = tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]


class PriceCache:
    """One parquet file per ticker and interval; each write is atomic."""

    def __init__(self, cache_dir: str | Path, interval: str) -> None:
        self.dir = Path(cache_dir)
        self.interval = interval

    def path(self, ticker: str) -> Path:
        safe = ticker.replace(os.sep, "_").replace("/", "_")
        return self.dir / f"{safe}_{self.interval}.parquet"

    def read(self, ticker: str) -> Cached | None:
        path = self.path(ticker)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[_META_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise DataError(
                f"{path}: unreadable cache file ({exc}); delete it to refetch"
            ) from None
        return table.to_pandas(), pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])

    def write(self, ticker: str, frame: pd.DataFrame, start: pd.Timestamp,
              end: pd.Timestamp) -> None:
        table = pa.Table.from_pandas(frame)
        meta = {**(table.schema.metadata or {}),
                _META_KEY: json.dumps({"start": str(start), "end": str(end)}).encode()}
        table = table.replace_schema_metadata(meta)
        atomic_write(self.path(ticker), lambda tmp: pq.write_table(table, tmp))
