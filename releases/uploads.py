"""Streaming bundle uploads: the request body goes straight to the bundle folder, hashed on the
way, never whole in memory and never copied.

Views that accept a bundle set ``request.upload_handlers = [BundleUploadHandler(request)]``
before touching ``request.POST`` / ``request.FILES`` (form views therefore use
``csrf_exempt`` outside and ``csrf_protect`` inside, as Django documents: the CSRF check reads
the body). The uploaded file is a ``ReceivedFile``: already in ``<bundle dir>/tmp``, fsynced, with
its SHA-256 and size; ``bundles.adopt`` validates it and ``bundles.store`` renames it into place.
Whatever is not stored is deleted when Django closes the request's files (``ReceivedFile.close``)
or when the upload is interrupted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from releases import bundles


class ReceivedFile(UploadedFile):
    def __init__(self, path: Path, name: str, content_type: str, size: int, sha256: str):
        super().__init__(open(path, "rb"), name, content_type, size, None)  # noqa: SIM115
        self.path = path
        self.sha256 = sha256

    def temporary_file_path(self) -> str:
        return str(self.path)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.path.unlink(missing_ok=True)  # gone already when stored (renamed)


class BundleUploadHandler(FileUploadHandler):
    chunk_size = bundles.CHUNK

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        tmp_dir = bundles.bundle_dir() / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".upload")
        self.path = Path(name)
        self.out = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.limit = bundles.limits()["max_upload_bytes"]

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > self.limit:
            self.upload_interrupted()
            # The view answers 400 too_large; the rest of the body is read and dropped.
            self.request.bundle_upload_error = bundles.BundleError(
                "too_large", f"the bundle is larger than {self.limit} bytes"
            )
            raise StopUpload(connection_reset=False)
        self.digest.update(raw_data)
        self.out.write(raw_data)
        return None  # consumed: no later handler sees the bytes

    def file_complete(self, file_size: int) -> ReceivedFile:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        return ReceivedFile(
            self.path, self.file_name, self.content_type, self.size, self.digest.hexdigest()
        )

    def upload_interrupted(self) -> None:
        out = getattr(self, "out", None)
        if out is not None and not out.closed:
            out.close()
        path = getattr(self, "path", None)
        if path is not None:
            path.unlink(missing_ok=True)


def use_bundle_handler(request) -> None:
    request.upload_handlers = [BundleUploadHandler(request)]
