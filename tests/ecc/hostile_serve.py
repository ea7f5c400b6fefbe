"""Shared pieces of the hostile-client suites: a real `python -m ecc.serve` in a subprocess, a
legitimate handshake, descriptor limits and a closed-by-peer probe."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import socket
import subprocess
import sys
from pathlib import Path

import torch

from ecc.wire import Codec, Message
from ecc.wire.codec import KIND_SERVER_HELLO, PREFIX_BYTES
from ecc.wire.handshake import ClientHandshake, expect
from ecc.wire.transport import Client, FramedSocket, TransportConfig, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hostile-suite-shared-secret-0123456789"
CODEC = Codec(SECRET)
FAST = TransportConfig(connect_timeout_s=2.0, read_timeout_s=10.0, retries=2, backoff_s=0.1)
SHAPE = "oft-tiny"


class ServeProcess:
    """`python -m ecc.serve` in a subprocess, with its stderr in a file."""

    def __init__(self, tmp: Path, *extra: str, nofile: int | None = None) -> None:
        port = free_port()
        self.log_path = tmp / f"serve-{port}.log"
        env = {**os.environ, "VECC_WIRE_SECRET": SECRET}

        def limit() -> None:  # in the child, before exec: a hard cap on its descriptors
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ecc.serve", "--shape", SHAPE, "--port", str(port), *extra],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                preexec_fn=limit,
            )
        line = self.proc.stdout.readline()
        assert "serving" in line, (line, self.log())
        self.address = ("127.0.0.1", port)

    def log(self) -> str:
        return self.log_path.read_text()

    def status(self, field: str) -> int:
        """A field of /proc/<pid>/status (VmRSS in kB, Threads, ...)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+)", text, re.M).group(1))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def health(self) -> dict:
        with Client(self.address, CODEC, FAST) as c:
            return c.request(Message("health"), idempotent=True).meta

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def nofile(n: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(n, soft), hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def closed_by_peer(s: socket.socket, timeout_s: float = 10.0) -> bool:
    s.settimeout(timeout_s)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def handshake(address: tuple[str, int]) -> tuple[socket.socket, FramedSocket, bytes]:
    """A legitimate connection, recording the bytes the client sent during the handshake."""
    s = socket.create_connection(address, timeout=5.0)
    hs = ClientHandshake(CODEC.secret)
    s.sendall(hs.hello)
    fs = FramedSocket(s, CODEC, 5.0)
    prefix = bytes(fs._read(PREFIX_BYTES, "prefix"))
    payload = bytes(fs._read(expect(CODEC.parse_prefix(prefix), KIND_SERVER_HELLO), "payload"))
    finish, fs.channel = hs.on_server_hello(prefix, payload)
    s.sendall(finish)
    return s, fs, hs.hello + finish


def requests_served(server: ServeProcess) -> int:
    return int(server.health()["requests"])


def oft_inputs(model) -> dict[str, torch.Tensor]:
    s = model.shape
    g = torch.Generator().manual_seed(3)
    size = s.vision[0].image_size
    return {
        "images": torch.rand(1, s.cameras, 3, size, size, generator=g),
        "tokens": torch.randint(0, 100, (1, s.prompt_tokens), generator=g),
        "proprio": torch.randn(1, s.proprio_dim, generator=g),
    }
