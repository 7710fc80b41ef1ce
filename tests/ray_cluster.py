"""A two-node Ray cluster on this machine for the multi-node tests: a head and a second node,
each a separate `ray start --block` process with its own temporary and working folders, so
the only thing they share with the driver is what a real cluster shares (the network, and
here the S3 server)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _node_ip() -> str:
    """The address Ray gives this machine's nodes (it binds its servers there, not to
    127.0.0.1)."""
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


def _ray_start(arguments: list[str], folder: Path, environment: dict[str, str]
               ) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    # Ray's sockets live in the temporary folder and a socket path may not exceed 107 bytes,
    # so it is a short folder of its own under /tmp, not inside the test's.
    temporary = tempfile.mkdtemp(prefix="gp-ray-")
    (folder / "temp-dir").write_text(temporary)
    log = open(folder / "ray-start.log", "wb")  # noqa: SIM115 (lives as long as the node)
    command = [str(Path(sys.executable).parent / "ray"), "start", "--block",
               "--disable-usage-stats", "--num-cpus=1", f"--temp-dir={temporary}",
               *arguments]
    return subprocess.Popen(command, cwd=folder, env=environment, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def two_node_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """Yields the cluster's ``address``, ``dashboard`` (the state API) and the environment a
    driver needs (``RAY_AUTH_*``: Ray's token authentication, one token for the cluster)."""
    ip, port, dashboard = _node_ip(), _free_port(), _free_port()
    environment = {**os.environ, "RAY_AUTH_MODE": "token",
                   "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    address = f"{ip}:{port}"
    nodes = [_ray_start(["--head", f"--port={port}", "--include-dashboard=true",
                         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}"],
                        folder / "head", environment)]
    try:
        _wait_for_nodes(address, 1, environment, nodes)
        nodes.append(_ray_start([f"--address={address}"], folder / "second", environment))
        _wait_for_nodes(address, 2, environment, nodes)
        yield {"address": address, "dashboard": f"http://127.0.0.1:{dashboard}",
               "RAY_AUTH_MODE": environment["RAY_AUTH_MODE"],
               "RAY_AUTH_TOKEN": environment["RAY_AUTH_TOKEN"]}
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
        for name in ("head", "second"):
            marker = folder / name / "temp-dir"
            if marker.exists():
                shutil.rmtree(marker.read_text(), ignore_errors=True)


def _wait_for_nodes(address: str, count: int, environment: dict[str, str],
                    nodes: list[subprocess.Popen]) -> None:
    """Until ``count`` nodes are alive; a node that exits, or a minute and a half, fails."""
    host, port = address.rsplit(":", 1)
    probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, "
             "configure_logging=False); print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(node.poll() is not None for node in nodes):
            raise RuntimeError("a Ray node exited while starting: see its ray-start.log")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            time.sleep(0.5)
            continue
        try:
            result = subprocess.run([sys.executable, "-c", probe, address], env=environment,
                                    capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            continue
        alive = result.stdout.strip().splitlines()[-1:] if result.returncode == 0 else []
        if alive and alive[0].isdigit() and int(alive[0]) >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {count} nodes")
