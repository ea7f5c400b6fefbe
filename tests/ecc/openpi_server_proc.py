"""``python -m ecc.openpi_server`` in its own process, for the tests that talk to it."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def openpi_server(checkpoint: Path, log_dir: Path, *args: str) -> Iterator[int]:
    """Serve ``checkpoint`` on a free loopback port; yields the port, stops the server after."""
    # stderr (its log lines) goes to a file: merged into stdout, a log line written between the
    # print's text and its newline glued digits onto the port (seen under load: port 355072026).
    log_path = log_dir / "openpi_server.stderr.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecc.openpi_server", "--checkpoint", str(checkpoint),
             "--port", "0", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            port = None
            while time.monotonic() < deadline and port is None:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    pytest.fail(
                        f"server exited rc={proc.returncode}: {log_path.read_text()[-2000:]}"
                    )
                m = re.search(r"on 127\.0\.0\.1:(\d+)$", line.rstrip("\n"))
                port = int(m.group(1)) if m else None
            assert port is not None, "server did not report its port"
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=10)
