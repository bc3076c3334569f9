"""A content-addressed store of immutable bytes: files named by their SHA-256, outside the database.

`put(data)` writes the bytes to <directory>/<2 hex>/<2 hex>/<64 hex> and returns their SHA-256;
`get(digest)` reads them back and checks them against that hash; `exists(digest)` and
`check(digest)` ("ok", "missing", "altered") say whether they are there intact.

A write is durable before `put` returns: the bytes go to a temporary file in the final
directory, which is flushed and fsync'd, renamed to its name (atomic), and the directory is
fsync'd (so are directories it had to create). A caller that records the digest in a database
row calls `put` before its transaction commits: a process killed at any point leaves either no
row, or a row whose bytes are on disk. A rolled-back transaction may leave a file no row names;
it is harmless, and the same bytes written again get the same name and reuse it. Files are made
read-only; a file found damaged under its name is replaced by the good bytes when they are put
again.

The store of the application is the directory DOCUMENT_STORE_DIR (`store()`); every web and
worker process must see the same directory (a shared volume).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Iterator

DIGEST = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class BlobUnreadable(Exception):
    """The bytes of a digest cannot be given back intact: `reason` is "missing", "altered" or
    "unreadable (...)"."""

    def __init__(self, digest: str, reason: str, path: Path):
        super().__init__(f"stored file {path} is {reason} (expected SHA-256 {digest})")
        self.digest = digest
        self.reason = reason
        self.path = path


class BlobStore:
    def __init__(self, directory: str | os.PathLike):
        if not directory:
            raise ValueError("a blob store needs a directory")
        self.directory = Path(directory)

    def path(self, digest: str) -> Path:
        """Where the bytes of `digest` live (a digest that is not 64 lower-case hex is refused)."""
        if not isinstance(digest, str) or not DIGEST.match(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.directory / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store `data` durably (see the module's text); its SHA-256, hex."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("a blob is bytes")
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        self._make_directories(target.parent)
        if self.check(digest) == "ok":
            # Another writer may have renamed it and not yet synced the directory: sync it here too.
            _fsync_directory(target.parent)
            return digest
        temporary = target.parent / f".{digest}.{os.getpid()}.{secrets.token_hex(4)}.partial"
        try:
            with open(temporary, "xb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o444)
            os.replace(temporary, target)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise
        _fsync_directory(target.parent)
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes of `digest`, checked against it; BlobUnreadable when missing or altered."""
        path = self.path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BlobUnreadable(digest, "missing", path) from None
        except OSError as err:  # not readable (permissions, an unmounted or failing volume)
            raise BlobUnreadable(digest, f"unreadable ({err.strerror or type(err).__name__})", path) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobUnreadable(digest, "altered", path)
        return data

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def check(self, digest: str) -> str:
        """"ok", "missing", "altered" (the file's content no longer has its name's hash) or
        "unreadable (...)"."""
        path = self.path(digest)
        hasher = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(_CHUNK), b""):
                    hasher.update(block)
        except FileNotFoundError:
            return "missing"
        except OSError as err:
            return f"unreadable ({err.strerror or type(err).__name__})"
        return "ok" if hasher.hexdigest() == digest else "altered"

    def digests(self) -> Iterator[str]:
        """Every digest with a file in the store (leftover temporary files are not listed)."""
        if not self.directory.is_dir():
            return
        for first in sorted(self.directory.iterdir()):
            if not (first.is_dir() and re.fullmatch(r"[0-9a-f]{2}", first.name)):
                continue
            for second in sorted(first.iterdir()):
                if not (second.is_dir() and re.fullmatch(r"[0-9a-f]{2}", second.name)):
                    continue
                for file in sorted(second.iterdir()):
                    if DIGEST.match(file.name) and file.name.startswith(first.name + second.name):
                        yield file.name

    def _make_directories(self, directory: Path) -> None:
        """Create the fan-out directories, each new entry synced into its parent."""
        missing = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for made in reversed(missing):
            try:
                made.mkdir()
            except FileExistsError:
                continue  # another writer made it; it syncs its parent
            _fsync_directory(made.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store(config=None) -> BlobStore:
    """The application's document store (DOCUMENT_STORE_DIR of `config`, else of the current app)."""
    if config is None:
        from flask import current_app
        config = current_app.config
    return BlobStore(config["DOCUMENT_STORE_DIR"])
