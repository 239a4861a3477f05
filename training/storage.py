"""Where checkpoints and artifacts live: a local directory or an ``s3://`` prefix, behind one interface.

S3 goes through s3torchconnector (the AWS-maintained connector built for PyTorch checkpoints); its
DCP writer and reader are used for checkpoints, its client for the few small objects around them.
``AWS_ENDPOINT_URL`` (honoured by the connector) points it at another S3 endpoint, such as a local
test server, for which path-style addressing is used.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlparse

from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint.storage import StorageReader, StorageWriter


class Store(ABC):
    """A tree of named objects under one root; names use '/' as separator."""

    uri: str

    @abstractmethod
    def read_text(self, name: str) -> str | None:
        """The object's text, or None when it does not exist."""

    @abstractmethod
    def read_bytes(self, name: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    @abstractmethod
    def write_text(self, name: str, text: str) -> None:
        """Replace the object atomically: readers see the old text or the new, never a mix."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write ``name`` so that a reader sees either nothing, the old object or all of ``data``."""

    @abstractmethod
    def files(self) -> list[str]:
        """Every object under the store, as relative names, sorted."""

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def children(self) -> list[str]:
        """Names of the top-level "directories" under the root."""

    @abstractmethod
    def delete_tree(self, name: str) -> None: ...

    @abstractmethod
    def upload(self, local: Path, name: str) -> None: ...

    @abstractmethod
    def download(self, name: str, local: Path) -> None:
        """Copy the object to ``local`` in chunks, never whole in memory; ``local`` appears complete or
        not at all."""

    def local_path(self, name: str) -> Path | None:
        """The object as a local file, where it already is one (no copy needed), else None."""
        return None

    def upload_tree(self, local: Path, prefix: str = "") -> list[str]:
        """Upload every file under ``local`` (an uncompressed artifact); returns the names written."""
        names = []
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            name = f"{prefix}{path.relative_to(local).as_posix()}"
            self.upload(path, name)
            names.append(name)
        return names

    def download_tree(self, local: Path, prefix: str = "") -> list[str]:
        """Download every object under ``prefix`` into ``local``; returns the relative names."""
        names = [name.removeprefix(prefix) for name in self.files() if name.startswith(prefix)]
        for name in names:
            self.download(f"{prefix}{name}", local / name)
        return names

    @abstractmethod
    def writer(self, name: str) -> StorageWriter: ...

    @abstractmethod
    def reader(self, name: str) -> StorageReader: ...


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def read_text(self, name: str) -> str | None:
        path = self.root / name
        return path.read_text() if path.exists() else None

    def read_bytes(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.exists() else None

    def write_text(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)  # rename is atomic on POSIX file systems

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)

    def files(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def children(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def delete_tree(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def upload(self, local: Path, name: str) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.copyfile(local, tmp)
        tmp.replace(target)

    def download(self, name: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp-{os.getpid()}")
        shutil.copyfile(self.root / name, tmp)
        tmp.replace(local)

    def local_path(self, name: str) -> Path | None:
        path = self.root / name
        return path if path.is_file() else None

    def writer(self, name: str) -> StorageWriter:
        return FileSystemWriter(self.root / name, sync_files=True)

    def reader(self, name: str) -> StorageReader:
        return FileSystemReader(self.root / name)


def cache_dir(kind: str) -> Path:
    """A local cache for copies of remote data (base checkpoints, shards): ``$HOIST_CACHE/<kind>``,
    by default under ``~/.cache/hoist``."""
    root = Path(os.environ.get("HOIST_CACHE") or Path.home() / ".cache" / "hoist")
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class S3Store(Store):
    def __init__(self, uri: str) -> None:
        from s3torchconnector import S3ClientConfig
        from s3torchconnector._s3client import S3Client

        parsed = urlparse(uri)
        self.uri = uri.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        # A custom endpoint (a local S3 server) needs path-style addressing.
        self.config = S3ClientConfig(force_path_style=bool(os.environ.get("AWS_ENDPOINT_URL")))
        self.client = S3Client(_region(), s3client_config=self.config)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def read_text(self, name: str) -> str | None:
        data = self.read_bytes(name)
        return data.decode() if data is not None else None

    def read_bytes(self, name: str) -> bytes | None:
        if not self.exists(name):
            return None
        data: bytes = self.client.get_object(self.bucket, self._key(name)).read()
        return data

    def write_text(self, name: str, text: str) -> None:
        # A PUT is atomic: a reader sees the previous object or the new one.
        writer = self.client.put_object(self.bucket, self._key(name))
        writer.write(text.encode())
        writer.close()  # type: ignore[no-untyped-call]

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(self.bucket, self._key(name))
        except Exception as exc:  # the connector raises S3Exception("Service error: The object was not found")
            if "not found" in str(exc).lower() or "NoSuchKey" in str(exc):
                return False
            raise
        return True

    def write_bytes(self, name: str, data: bytes) -> None:
        writer = self.client.put_object(self.bucket, self._key(name))
        writer.write(data)
        writer.close()  # type: ignore[no-untyped-call]

    def files(self) -> list[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        return sorted(key[len(root):] for key in self._keys(root))

    def delete(self, name: str) -> None:
        self.client.delete_object(self.bucket, self._key(name))

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.list_objects(self.bucket, prefix):
            keys += [info.key for info in page.object_info]
        return keys

    def children(self) -> list[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        names = {key[len(root):].split("/", 1)[0] for key in self._keys(root) if "/" in key[len(root):]}
        return sorted(names)

    def delete_tree(self, name: str) -> None:
        for key in self._keys(self._key(name) + "/"):
            self.client.delete_object(self.bucket, key)

    def upload(self, local: Path, name: str) -> None:
        writer = self.client.put_object(self.bucket, self._key(name))
        with local.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                writer.write(chunk)
        writer.close()  # type: ignore[no-untyped-call]

    def download(self, name: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp-{os.getpid()}")
        stream = self.client.get_object(self.bucket, self._key(name))
        with tmp.open("wb") as handle:
            while chunk := stream.read(8 << 20):
                handle.write(chunk)
        tmp.replace(local)

    def writer(self, name: str) -> StorageWriter:
        from s3torchconnector.dcp import S3StorageWriter

        return S3StorageWriter(_region(), f"{self.uri}/{name}", s3client_config=self.config)

    def reader(self, name: str) -> StorageReader:
        from s3torchconnector.dcp import S3StorageReader

        return S3StorageReader(_region(), f"{self.uri}/{name}", s3client_config=self.config)


def open_store(uri: str) -> Store:
    """A store for a local path or an ``s3://bucket/prefix`` URI."""
    if uri.startswith("s3://"):
        if not urlparse(uri).netloc:
            raise ValueError(f"{uri!r}: an S3 URI needs a bucket, e.g. s3://my-bucket/checkpoints")
        return S3Store(uri)
    if "://" in uri:
        raise ValueError(f"{uri!r}: only local paths and s3:// URIs are supported")
    return LocalStore(Path(uri))
