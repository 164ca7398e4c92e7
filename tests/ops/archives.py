"""Helpers that damage or rewrite backup archives the way a disk, a hand or an older console would."""

import io
import tarfile
from pathlib import Path

import orjson

from ops.backups import MANIFEST, sha256_of


def flip_byte(path: Path, at: int | None = None) -> int:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return at


def rewrite(path: Path, change) -> None:
    """Rebuild `path` with `change(name, data) -> data` applied to each member, and a fresh .sha256
    (so only the manifest can tell)."""
    members = []
    with tarfile.open(path, "r:gz") as archive:
        for info in archive:
            handle = archive.extractfile(info)
            members.append((info.name, handle.read() if handle else b""))
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members:
            data = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    Path(f"{path}.sha256").write_text(f"{sha256_of(path)}  {path.name}\n")


def edit_manifest(path: Path, edit) -> None:
    def change(name, data):
        if name != MANIFEST:
            return data
        manifest = orjson.loads(data)
        edit(manifest)
        return orjson.dumps(manifest)

    rewrite(path, change)


def manifest_of(path: Path) -> dict:
    with tarfile.open(path, "r:gz") as archive:
        return orjson.loads(archive.extractfile(MANIFEST).read())
