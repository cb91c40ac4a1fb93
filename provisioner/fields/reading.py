"""Reading a regular file of bounded size (a manifest, a project file, a `${file:}` secret).

A path a user names may be anything: a FIFO that never delivers a byte, /dev/zero that
never ends, a directory, a symlink loop, a file of gigabytes. Files are opened without
blocking and checked with fstat on the open descriptor (so a file swapped after a check
changes nothing) before a single byte is read, and never more than the limit is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(Exception):
    """A file that cannot be read, or must not be.

    Its message continues "the file ..." or "secret file PATH ...": "is a FIFO (named pipe),
    not a regular file", "cannot be read (Permission denied)".
    """


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular_file(
    path: Path, limit: int, limit_text: str, follow_symlinks: bool = True
) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them.

    Raises `UnreadableFile` for a missing file, a symlink loop, anything that is not a
    regular file, and a file over `limit` bytes (`limit_text` names the limit in words).
    With `follow_symlinks` false, a symlink as the last component is refused too: a path
    checked once resolved cannot be swapped for a link to elsewhere before it is opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise UnreadableFile(_os_reason(error)) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(_too_big(info.st_size, limit_text))
        data = _read_at_most(descriptor, limit + 1)
    except OSError as error:
        raise UnreadableFile(_os_reason(error)) from None
    finally:
        os.close(descriptor)
    if len(data) > limit:  # it grew after fstat
        raise UnreadableFile(_too_big(len(data), limit_text))
    return data


def _too_big(size: int, limit_text: str) -> str:
    return f"is {size:,} bytes, over the limit of {limit_text}"


def _os_reason(error: OSError) -> str:
    return f"cannot be read ({error.strerror or error})"


def _read_at_most(descriptor: int, count: int) -> bytes:
    chunks: list[bytes] = []
    remaining = count
    while remaining > 0:
        chunk = os.read(descriptor, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def utf8_text(data: bytes) -> str:
    """`data` decoded as UTF-8; `UnreadableFile` names the first bad byte and its offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 1].hex()
        raise UnreadableFile(f"is not valid UTF-8 (byte 0x{bad} at offset {error.start})") from None
