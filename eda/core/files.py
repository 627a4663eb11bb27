"""Atomic file and directory writes, so a killed run never leaves half a file behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp makes the file 0600; outputs are meant to be read like any other file.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def build_once(final_dir: Path, failed_dir: Path, build: Callable[[Path], None], label: str) -> bool:
    """Fill final_dir by build(tmp_dir) unless it already holds metrics.json; True if it did (cached).

    The build runs in a hidden sibling folder (.<name>.<pid>.*, see remove_orphaned_dirs) and is
    published only when complete. A failed build (EdaError) is moved to failed_dir for the user
    to read, and the error names it; any other exception removes the half-built folder.
    """
    if (final_dir / "metrics.json").is_file():
        return True
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.{os.getpid()}."))
    try:
        build(tmp_dir)
    except EdaError as exc:
        shutil.rmtree(failed_dir, ignore_errors=True)
        failed_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_dir, failed_dir)
        message = str(exc).replace(str(tmp_dir), str(failed_dir))  # logs named in it moved with the folder
        raise EdaError(f"{label}: {message}\n(all files of the failed run: {failed_dir})") from None
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
