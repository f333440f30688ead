"""Throw-away PostGIS clusters and Mosquitto brokers on free ports, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the cluster as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PostgisCluster:
    """A running throw-away PostgreSQL cluster with PostGIS available."""

    data_dir: Path
    port: int
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database of this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command through psql and return its output."""
        out = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def stop(self) -> None:
        """Stop the server (fast shutdown); the data directory stays."""
        subprocess.run(
            _as_postgres(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def start(self) -> None:
        """Start (or restart) the server on its port."""
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-w",
                    "-o",
                    options,
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )


@contextmanager
def postgis_cluster() -> Iterator[PostgisCluster]:
    """Start a PostGIS-enabled cluster in a temporary directory; remove it afterwards."""
    if not PG_BIN_CANDIDATES:
        raise RuntimeError("PostgreSQL server binaries not found: run scripts/install-deps.sh")
    bin_dir = PG_BIN_CANDIDATES[0]
    data_dir = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    cluster = PostgisCluster(data_dir=data_dir, port=free_port(), bin_dir=bin_dir)
    cluster.start()
    try:
        # A template with PostGIS makes each test's fresh database cost one CREATE DATABASE.
        cluster.psql("CREATE DATABASE vigie_template")
        cluster.psql("CREATE EXTENSION postgis", database="vigie_template")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class MosquittoBroker:
    """A running Mosquitto broker on a private port."""

    port: int
    config: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The broker's mqtt:// URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the broker on its port."""
        log = open(self.config.with_suffix(".log"), "ab")  # noqa: SIM115 - lives as long as the broker
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the broker and wait for it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def mosquitto_broker(
    extra_config: str = "", persistence: bool = False
) -> Iterator[MosquittoBroker]:
    """Start Mosquitto on a free loopback port with anonymous access; stop it afterwards.

    With persistence, sessions and their queued messages survive a stop()/start().
    """
    if not shutil.which("mosquitto"):
        raise RuntimeError("mosquitto not found: run scripts/install-deps.sh")
    work = Path(tempfile.mkdtemp(prefix="vigie-mqtt-"))
    port = free_port()
    config = work / "mosquitto.conf"
    if persistence:
        work.chmod(0o777)  # Mosquitto writes its database as its own user
    persisting = f"true\npersistence_location {work}/" if persistence else "false"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence {persisting}\n"
        f"max_queued_messages 100000\n{extra_config}"
    )
    broker = MosquittoBroker(port=port, config=config)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
