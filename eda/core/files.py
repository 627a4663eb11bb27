"""Atomic file and directory writes, so a killed run never leaves half a file behind."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from eda.core.errors import EdaError


def _process_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which must not
    # happen while worker threads create files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary sibling and an atomic rename; a file that already holds exactly
    these bytes is left alone (its mtime too), so a rerun that recomputes the same output does not
    touch it."""
    path = Path(path)
    if holds_bytes(path, data):
        return
    make_dir(path.parent, f"the folder of {path}")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise EdaError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes the file 0600; outputs are meant to be read like any other file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def holds_bytes(path: Path, data: bytes) -> bool:
    """True if path is a regular file whose content is exactly data (compared only when the sizes agree)."""
    try:
        if not path.is_file() or path.stat().st_size != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def make_dir(path: Path, what: str = "output folder") -> Path:
    """mkdir -p, with an EdaError naming the folder (a regular file in the way, no permission, a full
    disk) instead of an OSError traceback."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdaError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    return path


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Render a matplotlib figure (format from the suffix), close it, write it atomically."""
    import io

    import matplotlib.pyplot as plt

    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def publish_dir(tmp_dir: Path, final_dir: Path) -> Path:
    """Move a fully written tmp_dir into place; if another worker won the race, keep theirs."""
    try:
        os.rename(tmp_dir, final_dir)
    except OSError:
        if not final_dir.is_dir():
            raise
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if sys.platform.startswith("linux") else None
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # old kernel, or a file system without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(new: Path, target: Path) -> None:
    """Put the complete folder `new` at `target` (a sibling), removing what was there.

    An existing target is swapped with new in one step, so a reader (or a table naming the folder)
    never finds it missing or half deleted, even if this process is killed; the old content is
    removed afterwards. Where no atomic swap exists, the old folder is moved aside first.
    """
    while True:
        try:
            os.rename(new, target)  # no target yet (or an empty one)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            if _exchange(new, target):
                shutil.rmtree(new, ignore_errors=True)  # now the old content
                return
        except FileNotFoundError:
            continue  # another writer moved target away meanwhile: try the plain rename again
        aside = new.with_name(new.name + ".old")
        os.rename(target, aside)
        os.rename(new, target)
        shutil.rmtree(aside, ignore_errors=True)
        return


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on lock_path, a folder or a file (created if need be).

    The kernel drops the lock when its holder dies, so a kill -9 never leaves a stale lock. flock
    locks belong to the open file, so two threads of one process exclude each other too.
    """
    lock_path = Path(lock_path)
    if lock_path.is_dir():
        fd = os.open(lock_path, os.O_RDONLY)
    else:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _keep_failed(tmp_dir: Path, failed_dir: Path, label: str, message: str) -> EdaError:
    """Move a failed build to failed_dir and return the error naming it (logs named in it moved too)."""
    shutil.rmtree(failed_dir, ignore_errors=True)
    failed_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_dir, failed_dir)
    message = message.replace(str(tmp_dir), str(failed_dir))
    return EdaError(f"{label}: {message}\n(all files of the failed run: {failed_dir})")


def _logs(folder: Path) -> str:
    return ", ".join(str(p) for p in sorted(folder.rglob("*.log"))) or "none"


def build_once(final_dir: Path, failed_dir: Path, build: Callable[[Path], None], label: str) -> bool:
    """Fill final_dir by build(tmp_dir) unless it already holds metrics.json; True if it did (cached).

    The build runs in a hidden sibling folder (.<name>.<pid>.*, see remove_orphaned_dirs) and is
    published only when complete. A failed build (EdaError, or a file the build expected and a
    tool did not write) is moved to failed_dir for the user to read, and the error names it; any
    other exception removes the half-built folder. Builds of one final_dir are serialized by a
    lock (<parent>/../locks/), so concurrent processes build a key once and all get that result.
    """
    if (final_dir / "metrics.json").is_file():
        return True
    lock = final_dir.parent.parent / "locks" / f"{final_dir.parent.name}-{final_dir.name}.lock"
    with locked(lock):
        if (final_dir / "metrics.json").is_file():  # another process built it while we waited
            return True
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.{os.getpid()}."))
        try:
            build(tmp_dir)
        except EdaError as exc:
            raise _keep_failed(tmp_dir, failed_dir, label, str(exc)) from None
        except FileNotFoundError as exc:
            # A tool exited 0 without writing an output the next stage reads.
            missing = exc.filename or exc
            raise _keep_failed(tmp_dir, failed_dir, label, f"expected file {missing} was not written; "
                               f"the logs of the run: {_logs(tmp_dir)}") from None
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        publish_dir(tmp_dir, final_dir)
    return False


def remove_orphaned_dirs(parent: Path) -> int:
    """Delete half-built folders (.<key>.<pid>.*) under parent whose process is gone, e.g. after a kill."""
    removed = 0
    for tmp in Path(parent).glob(".*.*.*"):
        try:
            os.kill(int(tmp.name.split(".")[2]), 0)
        except (ValueError, IndexError, PermissionError):
            continue
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    return removed


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
