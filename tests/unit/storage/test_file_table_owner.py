"""The files table has one owner: only `storage/files.py` (and `metadata.py`, which declares it)
names the `FILES` table, so every write of a file row goes through `FileTable`."""

from __future__ import annotations

import re
from pathlib import Path

import sightd

SRC = Path(sightd.__file__).parent
OWNERS = {SRC / "storage" / "files.py", SRC / "storage" / "metadata.py"}


def test_only_the_file_table_touches_the_files_table() -> None:
    strays = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path not in OWNERS and re.search(r"\bFILES\b", path.read_text())
    ]
    assert strays == []
