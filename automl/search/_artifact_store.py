"""Where saved models live: a folder (local or shared) or an S3-compatible bucket, behind one
interface built on Optuna's artifact stores.

A model is stored under a key (``<study>/trial-00007.keras``); the trial store records its
*location* (an absolute path, or ``s3://bucket/prefix/<key>``) and its sha256, so any machine
that can reach the database and the bucket finds it, and every reader verifies it.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from automl._errors import AutoMLError

S3_SCHEME = "s3://"


class ModelMissing(AutoMLError):
    """A recorded model that is not in the artifact store (deleted, or never fully written)."""


class ModelChanged(AutoMLError):
    """A stored model whose content no longer matches the sha256 recorded when it was saved."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_remote(url: str | os.PathLike[str]) -> bool:
    return str(url).startswith(S3_SCHEME)


def model_cache_dir() -> Path:
    """Where models fetched from a bucket are kept (named by their sha256, so reused safely)."""
    if os.environ.get("AUTOML_CACHE_DIR"):
        return Path(os.environ["AUTOML_CACHE_DIR"]) / "models"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl" / "models"


class ArtifactStore(abc.ABC):
    """Files under keys. Writes are all-or-nothing: a failed write leaves no file under the key."""

    url: str

    @abc.abstractmethod
    def location(self, key: str) -> str:
        """What the trial store records for ``key``."""

    @abc.abstractmethod
    def put(self, source: Path, key: str) -> str:
        """Store the file ``source`` (consumed) under ``key``; returns its location."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a folder: ``<study>/``)."""

    @abc.abstractmethod
    def remove(self, key: str) -> None:
        """Delete ``key``; a key that is already gone is fine."""

    @abc.abstractmethod
    def local_file(self, key: str) -> Path:
        """A local file with the content of ``key`` (downloaded when the store is remote)."""

    @abc.abstractmethod
    def set_aside(self, key: str) -> str:
        """Move ``key`` to ``<key>.corrupt`` (kept for inspection); returns the new location."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise AutoMLError when the store cannot be used (checked before a search starts)."""


class FileSystemStore(ArtifactStore):
    """A folder: local, or shared between machines (NFS and the like)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from optuna.artifacts import FileSystemArtifactStore

        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)
        self._optuna = FileSystemArtifactStore(self.root)

    def location(self, key: str) -> str:
        return str(self.root / key)

    def put(self, source: Path, key: str) -> str:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with open(source, "rb") as body:
            self._optuna.write(f"{key}.partial", body)
        os.replace(partial, target)  # a crash never leaves a truncated model under the name
        source.unlink(missing_ok=True)
        return str(target)

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*") if p.is_file())

    def remove(self, key: str) -> None:
        if self.exists(key):
            self._optuna.remove(key)

    def local_file(self, key: str) -> Path:
        return self.root / key

    def set_aside(self, key: str) -> str:
        target = self.root / f"{key}.corrupt"
        os.replace(self.root / key, target)
        return str(target)

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise AutoMLError(f"--artifacts {self.root} is a file, not a folder")


class S3Store(ArtifactStore):
    """``s3://bucket/prefix`` on AWS or any S3-compatible server (MinIO, Ceph, moto). The
    endpoint, region and credentials come from the usual AWS settings (``AWS_ENDPOINT_URL``,
    ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` ... or a profile)."""

    def __init__(self, url: str) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise AutoMLError(
                f"{url}: s3:// artifacts need boto3 (pip install 'automl-cnn[s3]')"
            ) from None
        from optuna.artifacts import Boto3ArtifactStore

        bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
        if not bucket:
            raise AutoMLError(f"{url}: name a bucket, as in s3://bucket/prefix")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.url = f"{S3_SCHEME}{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        # Fail in seconds, not minutes, when the server is gone: that trial fails, the study
        # goes on (botocore's defaults wait 60 s per connection attempt).
        self.client = boto3.client(
            "s3",
            config=Config(
                connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        self._optuna = Boto3ArtifactStore(bucket, client=self.client, avoid_buf_copy=True)

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._object(key)}"

    def put(self, source: Path, key: str) -> str:
        with _s3_errors(self.location(key), "write"), open(source, "rb") as body:
            self._optuna.write(self._object(key), body)  # one PUT: never a partial object
        source.unlink(missing_ok=True)
        return self.location(key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with _s3_errors(self.location(key), "read"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._object(key))
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return False
                raise
        return True

    def keys(self, prefix: str) -> list[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        found = []
        with _s3_errors(self.location(prefix), "list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._object(prefix)
            )
            for page in pages:
                found += [item["Key"][start:] for item in page.get("Contents", [])]
        return sorted(found)

    def remove(self, key: str) -> None:
        with _s3_errors(self.location(key), "delete"):
            self._optuna.remove(self._object(key))

    def local_file(self, key: str) -> Path:
        """Downloaded into a fresh temporary file next to the model cache."""
        from optuna.artifacts.exceptions import ArtifactNotFound

        cache = model_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=cache, suffix=".download")
        path = Path(name)
        try:
            with _s3_errors(self.location(key), "read"), os.fdopen(handle, "wb") as out:
                try:
                    reader = self._optuna.open_reader(self._object(key))
                except ArtifactNotFound:
                    raise ModelMissing(f"{self.location(key)} is not in the bucket") from None
                shutil.copyfileobj(reader, out)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def set_aside(self, key: str) -> str:
        with _s3_errors(self.location(key), "move"):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self._object(f"{key}.corrupt"),
                CopySource={"Bucket": self.bucket, "Key": self._object(key)},
            )
            self._optuna.remove(self._object(key))
        return self.location(f"{key}.corrupt")

    def check(self) -> None:
        with _s3_errors(self.url, "reach"):
            self.client.head_bucket(Bucket=self.bucket)


@contextlib.contextmanager
def _s3_errors(location: str, doing: str) -> Iterator[None]:
    """botocore's errors as one line: which location, what was being done, why."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AutoMLError(f"cannot {doing} {location}: {why}") from exc


def open_artifact_store(url: str | os.PathLike[str]) -> ArtifactStore:
    """``s3://bucket/prefix`` or a folder."""
    return S3Store(str(url)) if is_remote(url) else FileSystemStore(url)


def store_of(location: str) -> tuple[ArtifactStore, str]:
    """The store and key behind a recorded location."""
    if is_remote(location):
        bucket, _, key = location[len(S3_SCHEME) :].partition("/")
        return S3Store(f"{S3_SCHEME}{bucket}"), key
    path = Path(location)
    return FileSystemStore(path.parent), path.name


def fetch_verified(location: str, sha256: str, what: str, *, cached: bool = True) -> Path:
    """A local file of the model at ``location``, its sha256 checked against the record.

    Remote models are cached by hash: a second fetch of the same model downloads nothing
    (``cached=False`` checks the stored object itself, as ``automl doctor`` must)."""
    store, key = store_of(location)
    if isinstance(store, FileSystemStore):
        path = store.local_file(key)
        if not path.is_file():
            raise ModelMissing(f"{what} {location} is missing")
        if sha256_of(path) != sha256:
            raise ModelChanged(f"{what} {location} was changed: its sha256 no longer matches")
        return path
    copy = model_cache_dir() / f"{sha256}{Path(key).suffix}"
    if cached and copy.is_file() and sha256_of(copy) == sha256:
        return copy
    downloaded = store.local_file(key)
    if sha256_of(downloaded) != sha256:
        downloaded.unlink()
        raise ModelChanged(f"{what} {location} was changed: its sha256 no longer matches")
    os.replace(downloaded, copy)
    return copy


__all__ = [
    "ArtifactStore",
    "FileSystemStore",
    "ModelChanged",
    "ModelMissing",
    "S3Store",
    "fetch_verified",
    "is_remote",
    "model_cache_dir",
    "open_artifact_store",
    "sha256_of",
    "store_of",
]
