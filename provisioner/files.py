"""Writing local files safely: owner-only, atomically, and never through a symlink.

The tool writes plans, crash logs and the embedded emulator's files. Each is written to a
fresh temporary file made with O_EXCL|O_NOFOLLOW next to the target, synced, then renamed
over the target: a symlink planted at the target is replaced, never followed, and a reader
never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_TRIES = 100  # temporary names to try before giving up (each is random)


class UnsafePathError(OSError):
    """A directory the tool would write into is a symlink, or not the user's own."""


def write_private(path: Path, data: str | bytes) -> None:
    """Write `data` to `path`, readable by its owner only (0600), replacing what is there.

    A symlink at `path` is replaced by the new file; its target is left untouched.
    """
    content = data.encode("utf-8") if isinstance(data, str) else data
    temporary, descriptor = _open_temporary(path)
    try:
        try:
            os.fchmod(descriptor, PRIVATE_FILE)  # whatever the umask
            view = memoryview(content)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _open_temporary(path: Path) -> tuple[Path, int]:
    """A new file next to `path`, made by this call (O_EXCL): its name and descriptor."""
    for _ in range(_TRIES):
        candidate = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return candidate, os.open(candidate, _OPEN_FLAGS, PRIVATE_FILE)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def ensure_private_dir(path: Path) -> Path:
    """`path` as a directory of the user's own, 0700: created so, or checked and tightened.

    Refuses (UnsafePathError) a symlink, a non-directory, or a directory owned by someone
    else, since whoever controls it could read or redirect what is written there.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, PRIVATE_DIR)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"{path} is a symlink; refusing to write through it")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{path} exists and is not a directory")
    if info.st_uid != os.getuid():
        raise UnsafePathError(f"{path} belongs to another user; refusing to write into it")
    if stat.S_IMODE(info.st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def ignore_everything(folder: Path) -> None:
    """A `.gitignore` of `*` in `folder`, so that nothing in it is ever committed."""
    ignore = folder / ".gitignore"
    if ignore.is_symlink() or not ignore.is_file():
        write_private(ignore, "# Made by provisioner: local data, never to be committed.\n*\n")


def state_dir(environ: dict[str, str] | None = None) -> Path:
    """The user's state directory (XDG): `$XDG_STATE_HOME`, else `~/.local/state`."""
    env = os.environ if environ is None else environ
    configured = env.get("XDG_STATE_HOME", "").strip()
    if configured and os.path.isabs(configured):
        return Path(configured)
    return Path.home() / ".local" / "state"


def crash_log_dir(environ: dict[str, str] | None = None) -> Path:
    """A 0700 directory of the user's own for crash logs.

    `<state dir>/provisioner/crash-logs`; when that cannot be made safe (a symlink, another
    user's, no home), a fresh directory from `tempfile.mkdtemp` (which makes it 0700).
    """
    try:
        base = state_dir(environ)
        base.mkdir(parents=True, exist_ok=True)
        return ensure_private_dir(ensure_private_dir(base / "provisioner") / "crash-logs")
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
        return Path(tempfile.mkdtemp(prefix="provisioner-crash-logs-"))
