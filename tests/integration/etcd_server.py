"""Real etcd servers on loopback for the leadership tests (Debian `etcd-server`, etcd 3.4).

`EtcdServer` runs one member on free 127.0.0.1 ports with a temporary data dir; it can be
stopped and started again on the same ports and data (an etcd outage), killed, paused.
`EtcdCluster` runs three members as one raft cluster. Every wait is bounded; `close()` kills
whatever still runs and removes the data dirs.

`require_etcd()` fails (CI set: the test must run there) or skips (a developer's machine
without etcd) with the reason, when the binary is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
START_TIMEOUT_S = 15.0


def require_etcd() -> str:
    if ETCD is None:
        reason = "etcd is not installed (Debian: apt-get install -y etcd-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it, so CI must have it", pytrace=False)
        pytest.skip(reason)
    return ETCD


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on 127.0.0.1 (closed again; etcd binds them next)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


class EtcdServer:
    """One etcd member. `name`/`initial_cluster` make it part of an EtcdCluster."""

    def __init__(self, name: str = "solo", *, client_port: int | None = None,
                 peer_port: int | None = None, initial_cluster: str | None = None,
                 data_dir: str | None = None):
        self.binary = require_etcd()
        if client_port is None or peer_port is None:
            client_port, peer_port = free_ports(2)
        self.name = name
        self.client_port, self.peer_port = client_port, peer_port
        self.endpoint = f"127.0.0.1:{client_port}"
        self.peer_url = f"http://127.0.0.1:{peer_port}"
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"vcc-etcd-{name}-")
        self.log_path = os.path.join(self.data_dir, "etcd.log")
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [self.binary, "--name", self.name,
                "--data-dir", os.path.join(self.data_dir, "data"),
                "--listen-client-urls", f"http://{self.endpoint}",
                "--advertise-client-urls", f"http://{self.endpoint}",
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", f"vcc-test-{os.getpid()}",
                # Local and fast: quicker raft elections keep the tests short.
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--log-level", "warn"]

    def start(self, wait: bool = True) -> "EtcdServer":
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"etcd {self.name} is already running")
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        if wait:
            self.wait_healthy()
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1) as reply:
                return json.loads(reply.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"etcd {self.name} exited with {self.process.returncode}: "
                                   f"{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise TimeoutError(f"etcd {self.name} not healthy after {timeout} s: {self.log_tail()}")

    def status(self) -> dict:
        """The member's /v3 maintenance status (leader and own member ids, as strings)."""
        request = urllib.request.Request(f"http://{self.endpoint}/v3/maintenance/status",
                                         data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=2) as reply:
            document = json.loads(reply.read())
        return {"member_id": document["header"]["member_id"], "leader": document["leader"]}

    def log_tail(self, size: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as file:
                return file.read()[-size:].decode(errors="replace")
        except OSError:
            return "<no log>"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; the data dir stays (start() again)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    def close(self) -> None:
        try:
            self.kill()
        finally:
            if self._own_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)


class EtcdCluster:
    """Three (or `size`) members of one raft cluster on loopback."""

    def __init__(self, size: int = 3):
        require_etcd()
        ports = free_ports(2 * size)
        names = [f"m{index}" for index in range(size)]
        initial = ",".join(f"{name}=http://127.0.0.1:{ports[2 * index + 1]}"
                           for index, name in enumerate(names))
        self.members = [EtcdServer(name, client_port=ports[2 * index],
                                   peer_port=ports[2 * index + 1], initial_cluster=initial)
                        for index, name in enumerate(names)]

    @property
    def endpoints(self) -> list[str]:
        return [member.endpoint for member in self.members]

    def start(self) -> "EtcdCluster":
        # All at once: a member waits for its peers before it reports healthy.
        for member in self.members:
            member.start(wait=False)
        for member in self.members:
            member.wait_healthy()
        return self

    def raft_leader(self, timeout: float = 10.0) -> EtcdServer:
        """The member that is the raft leader, as the running members agree on it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                statuses = {m.name: m.status() for m in self.members if m.running()}
                leaders = {status["leader"] for status in statuses.values()}
                if len(leaders) == 1:
                    leader_id = leaders.pop()
                    for member in self.members:
                        if member.running() and statuses[member.name]["member_id"] == leader_id:
                            return member
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise TimeoutError("the etcd members do not agree on a raft leader")

    def close(self) -> None:
        for member in self.members:
            member.close()
