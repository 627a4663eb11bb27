"""Image data for the workload: Fashion-MNIST (Debian's dataset-fashion-mnist), a user's .npz, or a
folder of images. Every loader returns float32 images (N, C, H, W) in 0..1 and int64 labels (N,)
and checks what it reads, naming the file and the field."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eda.core.errors import EdaError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_MNIST_ENV = "VOLTSCALE_FASHION_MNIST"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

# IDX type codes (http://yann.lecun.com/exdb/mnist/ format description)
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True)
class ImageSet:
    images: np.ndarray   # float32 (N, C, H, W), 0..1
    labels: np.ndarray   # int64 (N,)
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, count: int) -> "ImageSet":
        return ImageSet(self.images[:count], self.labels[:count], f"{self.source} (first {count})")


def read_idx(path: Path) -> np.ndarray:
    """An .idx or .idx.gz file as a numpy array in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise EdaError(f"{path}: IDX file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise EdaError(f"{path}: cannot read: {exc}") from None
    if len(raw) < 4 or raw[0] or raw[1]:
        raise EdaError(f"{path}: not an IDX file (the first two bytes of the magic number must be 0)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES or ndim == 0:
        raise EdaError(f"{path}: unknown IDX type code 0x{code:02x} or no dimensions")
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)) if len(raw) >= header else ()
    dtype = _IDX_DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if not dims or len(raw) != expected:
        raise EdaError(f"{path}: truncated or oversized IDX data (header says {dims}, {expected} bytes; file has {len(raw)})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR)


def load_fashion_mnist(split: str, folder: Path | None = None) -> ImageSet:
    """split 'train' (60,000) or 'test' (10,000)."""
    folder = Path(folder) if folder else fashion_mnist_dir()
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise EdaError(f"Fashion-MNIST split must be train or test, got {split!r}")
    images_path = folder / f"{prefix}-images-idx3-ubyte.gz"
    if not images_path.is_file():
        raise EdaError(f"{images_path} not found: install Debian's dataset-fashion-mnist (install.sh does) or point "
                       f"${FASHION_MNIST_ENV} at a folder holding the four *-ubyte.gz files")
    images = read_idx(images_path)
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise EdaError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match")
    return ImageSet((images.astype(np.float32) / 255.0)[:, None], labels.astype(np.int64), f"fashion-mnist {split}")


def load_npz(path: Path) -> ImageSet:
    """A user's test data: arrays `images` (N, H, W) or (N, C, H, W) and `labels` (N,) integers.
    uint8 images are scaled to 0..1; float images are taken as they are."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EdaError(f"{path}: not a readable .npz file: {exc}") from None
    missing = [key for key in ("images", "labels") if key not in data.files]
    if missing:
        raise EdaError(f"{path}: missing array(s) {', '.join(missing)} (has {', '.join(data.files) or 'none'}); "
                       "expected `images` (N, H, W) or (N, C, H, W) and `labels` (N,)")
    images, labels = data["images"], data["labels"]
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise EdaError(f"{path}: `images` must be (N, H, W) or (N, C, H, W), got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise EdaError(f"{path}: `labels` must be N={len(images)} integers, got {labels.dtype} {labels.shape}")
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    elif not np.issubdtype(images.dtype, np.floating) or not np.isfinite(images).all():
        raise EdaError(f"{path}: `images` must be uint8 or finite floats, got {images.dtype}")
    return ImageSet(images.astype(np.float32), labels.astype(np.int64), str(path))


def load_image_folder(folder: Path) -> ImageSet:
    """<folder>/<integer label>/<image file>: grey-scale images of one size."""
    import matplotlib.image as mpimg

    folder = Path(folder)
    images, labels = [], []
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not label_dir.name.isdigit():
            raise EdaError(f"{label_dir}: label folders must be named by their integer class (0, 1, ...)")
        for file in sorted(p for p in label_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            picture = np.asarray(mpimg.imread(file), dtype=np.float32)
            grey = picture[..., :3].mean(axis=-1) if picture.ndim == 3 else picture
            images.append(grey / 255.0 if grey.max() > 1 else grey)
            labels.append(int(label_dir.name))
    if not images:
        raise EdaError(f"{folder}: no images found (expected <label>/<image>{'|'.join(IMAGE_SUFFIXES)})")
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise EdaError(f"{folder}: images of different sizes {sorted(shapes)}")
    return ImageSet(np.stack(images)[:, None], np.asarray(labels, dtype=np.int64), str(folder))


def load_data(path: Path) -> ImageSet:
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path)
    if path.suffix == ".npz":
        return load_npz(path)
    raise EdaError(f"{path}: test data must be an .npz file (images, labels) or a folder of <label>/<image> files")
