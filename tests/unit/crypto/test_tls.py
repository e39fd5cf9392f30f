"""Client certificates re-read from files: rotation with overlap (RFC 8705 §2)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bff.crypto.tls import ClientCertificate, pem_thumbprint
from tests.support.clocks import OffsetClock
from tests.support.tls import write_tls_material


def rotate(directory: Path, target: Path) -> None:
    """Put a fresh certificate and key pair where the BFF reads them."""
    material = write_tls_material(directory)
    shutil.copy(material.client.cert, target / "client.pem")
    shutil.copy(material.client.key, target / "client.key")


def test_a_rotated_certificate_is_used_after_the_reload_interval(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    (tmp_path / "a").mkdir()
    rotate(tmp_path / "a", live)
    clock = OffsetClock()
    cert = ClientCertificate(live / "client.pem", live / "client.key", reload_interval=60,
                             clock=clock)
    context = cert.context
    old = cert.thumbprint
    (tmp_path / "b").mkdir()
    rotate(tmp_path / "b", live)
    new = pem_thumbprint((live / "client.pem").read_bytes())
    assert cert.thumbprint == old  # not yet looked at: the old one stays until the schedule
    clock.offset += 60
    assert cert.thumbprint == new
    # the same context object: clients holding it use the new certificate for new connections
    assert cert.context is context


def test_a_half_written_rotation_keeps_the_current_certificate(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    (tmp_path / "a").mkdir()
    rotate(tmp_path / "a", live)
    cert = ClientCertificate(live / "client.pem", live / "client.key", reload_interval=0)
    old = cert.thumbprint
    (tmp_path / "b").mkdir()
    fresh = write_tls_material(tmp_path / "b")
    shutil.copy(fresh.client.cert, live / "client.pem")  # the key is not there yet
    assert cert.reload() is False
    assert cert.thumbprint == old
    shutil.copy(fresh.client.key, live / "client.key")
    assert cert.reload() is True
    assert cert.thumbprint == pem_thumbprint(fresh.client.cert.read_bytes())
