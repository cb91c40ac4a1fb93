"""Finding manifest files under a folder, and the project a folder belongs to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

PROJECT_FILE = "provisioner.yaml"


def project_root(start: Path | None = None) -> Path:
    """The project: the directory of the project file in `start` (default: the working
    directory) or its nearest parent, else `start` itself (found as `find_project` finds
    the project file, without loading it)."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / PROJECT_FILE).is_file()), here)


def walk_manifest_files(folder: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files under `folder` ending in `suffixes`, recursively, sorted as whole paths.

    Dot-directories (`.git`, `.venv`, `.provisioner`) are skipped, and symlinked
    directories are not followed (no loops). An explicit stack keeps depth unbounded.
    """
    pending = [_sorted_entries(folder)]
    while pending:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
        elif entry.is_dir(follow_symlinks=False):
            if not entry.name.startswith("."):
                pending.append(_sorted_entries(Path(entry.path)))
        elif entry.name.endswith(suffixes):
            yield Path(entry.path)


def _sorted_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return iter(sorted(entries, key=lambda entry: entry.name))
    except OSError:
        return iter(())
