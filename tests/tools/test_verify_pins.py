"""`make verify-pins`' check of the EFA installer: the download must hash to the pinned SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tools.verify_pins import installer_differences


def test_the_installer_download_must_hash_to_the_pin(tmp_path: Path) -> None:
    tarball = tmp_path / "aws-efa-installer-1.41.0.tar.gz"
    tarball.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4096)
    pinned = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert installer_differences(tarball.as_uri(), pinned) == []
    moved = installer_differences(tarball.as_uri(), "0" * 64)
    assert moved == [f"EFA installer {tarball.as_uri()}: SHA-256 {pinned}, pinned {'0' * 64}"]
