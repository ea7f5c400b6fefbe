"""Framed TCP transport and the generic server: handshake, timeouts, retries, bad frames, health."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time

import numpy as np
import pytest

from ecc.links import namespaces_available
from ecc.wire import Codec, Message
from ecc.wire import errors as E
from ecc.wire.codec import KIND_FINISH, MAGIC, PREFIX, PREFIX_BYTES, PROTOCOL_VERSION
from ecc.wire.handshake import ClientHandshake, handshake_frame
from ecc.wire.secure import Channel
from ecc.wire.server import FrameServer, ServerConfig
from ecc.wire.transport import Client, FramedSocket, TransportConfig, connect, free_port

SECRET = b"transport-secret-0123456789"
FAST = TransportConfig(connect_timeout_s=1.0, read_timeout_s=2.0, retries=0)


@pytest.fixture
def codec() -> Codec:
    return Codec(SECRET, max_frame_bytes=4 * 2**20)


def _double(msg: Message) -> Message:
    return Message("result", tensors={"y": msg.tensors["x"] * 2}, meta={"n": len(msg.tensors)})


def _slow(msg: Message) -> Message:
    time.sleep(float(msg.meta["sleep_s"]))
    return Message("result")


def _fail(msg: Message) -> Message:
    raise RuntimeError("boom")


def _bad_reply(msg: Message) -> Message:
    return {"not": "a message"}  # type: ignore[return-value]


def _huge_reply(msg: Message) -> Message:
    return Message("result", tensors={"x": np.zeros(2 * 2**20, np.float32)})  # > 4 MiB frame


@pytest.fixture
def server(codec: Codec):
    handlers = {
        "double": _double,
        "slow": _slow,
        "fail": _fail,
        "bad": _bad_reply,
        "huge": _huge_reply,
    }
    with FrameServer(codec, handlers) as srv:
        yield srv


def test_request_reply_with_server_timing(codec: Codec, server: FrameServer) -> None:
    x = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    with Client(server.address, codec, FAST) as client:
        reply = client.request(Message("double", tensors={"x": x}))
        again = client.request(Message("double", tensors={"x": x}))
    np.testing.assert_array_equal(reply.tensors["y"], 2 * x)
    assert reply.type == "result"
    assert reply.meta["n"] == 1
    assert reply.meta["server_compute_ms"] >= 0
    assert "server_queue_ms" in reply.meta
    assert again.request_id == reply.request_id + 1
    assert server.stats.requests == 2


def test_health_answered_while_every_worker_busy(codec: Codec) -> None:
    release = threading.Event()

    def block(msg: Message) -> Message:
        release.wait(10.0)
        return Message("result")

    with FrameServer(codec, {"block": block}, workers=1) as srv:
        busy = Client(srv.address, codec, TransportConfig(read_timeout_s=15.0, retries=0))
        t = threading.Thread(target=busy.request, args=(Message("block"),))
        t.start()
        with Client(srv.address, codec, FAST) as client:
            deadline = time.monotonic() + 10
            while client.request(Message("health")).meta["busy_workers"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            health = client.request(Message("health"))
            answered_while_blocked = not release.is_set()
        release.set()
        t.join()
        busy.close()
    assert answered_while_blocked
    assert health.meta["status"] == "ok"
    assert health.meta["busy_workers"] == 1
    assert health.meta["handlers"] == ["block"]


def test_health_reports_a_stalled_worker(codec: Codec) -> None:
    release = threading.Event()
    cfg = ServerConfig(workers=1, stall_after_s=0.2)
    with FrameServer(
        codec, {"block": lambda m: release.wait(10.0) and Message("r")}, config=cfg
    ) as srv:
        busy = Client(srv.address, codec, TransportConfig(read_timeout_s=15.0, retries=0))
        t = threading.Thread(target=busy.request, args=(Message("block"),))
        t.start()
        with Client(srv.address, codec, FAST) as client:
            deadline = time.monotonic() + 10
            status = "ok"
            while status != "stalled" and time.monotonic() < deadline:
                time.sleep(0.05)
                health = client.request(Message("health")).meta
                status = health["status"]
            release.set()
            t.join()
            after = client.request(Message("health")).meta
        busy.close()
    assert status == "stalled"
    assert health["stalled_workers"] == 1
    assert health["oldest_request_s"] > 0.2
    assert after["status"] == "ok"


def test_unknown_type_and_failing_handler_give_error_replies(
    codec: Codec, server: FrameServer
) -> None:
    with Client(server.address, codec, FAST, raise_remote_errors=False) as client:
        unknown = client.request(Message("nope"))
        failed = client.request(Message("fail"))
        ok = client.request(Message("double", tensors={"x": np.ones(3)}))
    with Client(server.address, codec, FAST) as client:
        with pytest.raises(E.RemoteError, match="boom"):
            client.request(Message("fail"))
        with pytest.raises(E.RemoteError, match="expected Message"):
            client.request(Message("bad"))
        with pytest.raises(E.RemoteError, match="max_frame_bytes"):
            client.request(Message("huge"))
        assert client.request(Message("health")).meta["status"] == "ok"
    assert unknown.type == "error"
    assert "'nope'" in unknown.meta["error"]
    assert "double" in unknown.meta["error"]
    assert failed.type == "error"
    assert "RuntimeError: boom" in failed.meta["error"]
    np.testing.assert_array_equal(ok.tensors["y"], 2 * np.ones(3))


def _raw(server: FrameServer) -> socket.socket:
    s = socket.create_connection(server.address, timeout=2.0)
    return s


def _closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_oversized_frame_refused_before_body(
    codec: Codec, server: FrameServer, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect(server.address, codec, FAST)  # an authenticated peer
    prefix = PREFIX.pack(MAGIC, PROTOCOL_VERSION, 0, 0, 100, 2**40, 0)
    with caplog.at_level(logging.WARNING):
        conn.sock.sendall(prefix)  # no header or body follows: the server must not wait
        assert _closed_by_peer(conn.sock)
    conn.close()
    assert "FrameTooLarge" in caplog.text
    assert "max_frame_bytes" in caplog.text
    assert server.stats.rejected == 1


def test_data_before_handshake_rejected_at_the_prefix(
    codec: Codec, server: FrameServer, caplog: pytest.LogCaptureFixture
) -> None:
    frame = codec.encode(Message("double", tensors={"x": np.ones(3)}))  # validly sealed, offline
    with caplog.at_level(logging.WARNING), _raw(server) as s:
        s.sendall(frame)
        assert _closed_by_peer(s)
    assert "HandshakeError" in caplog.text
    assert "must complete the handshake" in caplog.text
    assert server.stats.rejected == 1
    assert server.stats.handshakes == 0


def test_wrong_secret_fails_the_handshake_on_both_sides(
    codec: Codec, server: FrameServer, caplog: pytest.LogCaptureFixture
) -> None:
    intruder = Codec(b"not-the-shared-secret-000")
    with pytest.raises(E.BadHmac, match="server handshake MAC"):
        connect(server.address, intruder, FAST)  # the client notices a server without its secret
    hello = ClientHandshake(intruder.secret).hello
    with caplog.at_level(logging.WARNING), _raw(server) as s:
        s.sendall(hello)
        s.recv(PREFIX_BYTES + 64)
        s.sendall(handshake_frame(KIND_FINISH, bytes(32)))  # cannot compute the client MAC
        assert _closed_by_peer(s)
    assert "client handshake MAC mismatch" in caplog.text
    assert "rejected frame from 127.0.0.1" in caplog.text
    # The server keeps serving honest clients.
    with Client(server.address, codec, FAST) as client:
        assert client.request(Message("health")).meta["status"] == "ok"


def test_old_protocol_version_rejected_clearly(
    codec: Codec, server: FrameServer, caplog: pytest.LogCaptureFixture
) -> None:
    v1 = struct.pack("<4sBBHIQ", b"VECC", 1, 0, 0, 100, 0)  # a version-1 peer's first bytes
    with caplog.at_level(logging.WARNING), _raw(server) as s:
        s.sendall(v1)
        assert _closed_by_peer(s)
    assert "UnsupportedVersion" in caplog.text
    assert "version 1 frames" in caplog.text


def test_malformed_frame_rejected(
    codec: Codec, server: FrameServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), _raw(server) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _closed_by_peer(s)
    assert "BadMagic" in caplog.text


def _pair(codec: Codec, read_timeout_s: float = 2.0) -> tuple[FramedSocket, FramedSocket]:
    a, b = socket.socketpair()
    k1, k2 = b"1" * 32, b"2" * 32
    return (
        FramedSocket(a, codec, read_timeout_s, channel=Channel(k1, k2)),
        FramedSocket(b, codec, read_timeout_s, channel=Channel(k2, k1)),
    )


def test_truncated_frame_raises_connection_closed(codec: Codec) -> None:
    fs, peer = _pair(codec)
    frame = codec.encode(Message("s", 1, {"x": np.arange(1000)}), channel=peer.channel)
    peer.sock.sendall(frame[: len(frame) // 2])
    peer.close()
    with pytest.raises(E.ConnectionClosed, match="frame bytes"):
        fs.recv()
    fs.close()


def test_read_timeout(codec: Codec) -> None:
    fs, peer = _pair(codec, read_timeout_s=0.2)
    peer.sock.sendall(codec.encode(Message("s"), channel=peer.channel)[:10])
    t0 = time.perf_counter()
    with pytest.raises(E.TransportTimeout, match="timed out"):
        fs.recv()
    assert time.perf_counter() - t0 >= 0.15  # it waited; no upper bound (loaded machines)
    fs.close()
    peer.close()


def test_large_frame_over_socketpair(codec: Codec) -> None:
    fs, other = _pair(codec)
    x = np.random.default_rng(1).standard_normal((512, 1024)).astype(np.float32)
    t = threading.Thread(target=other.send, args=(Message("s", 5, {"x": x}),))
    t.start()
    out = fs.recv()
    t.join()
    np.testing.assert_array_equal(out.tensors["x"], x)
    assert out.tensors["x"].flags.writeable
    fs.close()
    other.close()


def test_connect_retries_until_server_appears(codec: Codec) -> None:
    port = free_port()
    holder: dict[str, FrameServer] = {}

    def late_start() -> None:
        time.sleep(0.25)
        holder["s"] = FrameServer(codec, {"double": _double}, port=port)

    t = threading.Thread(target=late_start)
    t.start()
    cfg = TransportConfig(connect_timeout_s=0.5, retries=6, backoff_s=0.05)
    conn = connect(("127.0.0.1", port), codec, cfg)
    t.join()
    conn.send(Message("health", 1))
    assert conn.recv().meta["status"] == "ok"
    conn.close()
    holder["s"].close()


def test_connect_gives_up_after_bounded_retries(codec: Codec) -> None:
    cfg = TransportConfig(connect_timeout_s=0.2, retries=2, backoff_s=0.05)
    t0 = time.perf_counter()
    with pytest.raises(E.TransportError, match="after 3 attempts"):
        connect(("127.0.0.1", free_port()), codec, cfg)
    assert time.perf_counter() - t0 >= 0.14  # waited 0.05 + 0.1 s between tries


def test_transport_config_validation() -> None:
    with pytest.raises(E.WireConfigError, match="read_timeout_s"):
        TransportConfig(read_timeout_s=0)
    with pytest.raises(E.WireConfigError, match="retries"):
        TransportConfig(retries=-1)


@pytest.mark.timing
def test_request_through_userspace_link(codec: Codec) -> None:
    from ecc.links import LinkConfig
    from ecc.links.userspace import UserspaceLink

    cfg = LinkConfig(kind="userspace", delay_ms=10, up_mbps=50)
    with (
        UserspaceLink(cfg) as link,
        FrameServer(codec, {"double": _double}, listen_sock=link.listen()) as srv,
        Client(link.expose(srv.address), codec, FAST, socket_factory=link.edge_socket) as client,
    ):
        client.request(Message("health"))
        t0 = time.perf_counter()
        reply = client.request(Message("double", tensors={"x": np.ones(62_500)}))
        rtt = time.perf_counter() - t0
    np.testing.assert_array_equal(reply.tensors["y"], 2 * np.ones(62_500))
    # 0.5 MB up at 50 Mbit/s (80 ms) and back at 100 Mbit/s (40 ms) plus 2 x 10 ms delay.
    assert rtt == pytest.approx(0.14, rel=0.15)


@pytest.mark.root
@pytest.mark.timing
@pytest.mark.skipif(
    not namespaces_available()[0],
    reason="needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for network namespaces",
)
def test_request_through_namespaced_link(codec: Codec) -> None:
    from ecc.links import LinkConfig
    from ecc.links.tbf_userspace import TbfUserspaceLink

    cfg = LinkConfig(kind="tbf_userspace", delay_ms=5, up_mbps=20)
    with (
        TbfUserspaceLink(cfg) as link,
        FrameServer(codec, {"double": _double}, listen_sock=link.listen()) as srv,
        Client(link.expose(srv.address), codec, FAST, socket_factory=link.edge_socket) as client,
    ):
        assert srv.address[0] == link.pair.cloud_ip
        client.request(Message("health"))
        t0 = time.perf_counter()
        reply = client.request(Message("double", tensors={"x": np.ones(25_000)}))
        rtt = time.perf_counter() - t0
    np.testing.assert_array_equal(reply.tensors["y"], 2 * np.ones(25_000))
    # 0.2 MB up at 20 Mbit/s (80 ms), back at 100 Mbit/s (16 ms), 2 x 5 ms delay.
    assert rtt == pytest.approx(0.106, rel=0.15)


def test_one_slow_request_does_not_serialise_other_clients(codec: Codec) -> None:
    release = threading.Event()

    def block(msg: Message) -> Message:
        release.wait(10.0)
        return Message("result")

    with FrameServer(codec, {"block": block, "double": _double}, workers=2) as srv:
        slow = Client(srv.address, codec, TransportConfig(read_timeout_s=15.0, retries=0))
        t = threading.Thread(target=slow.request, args=(Message("block"),))
        t.start()
        with Client(srv.address, codec, FAST) as client:
            deadline = time.monotonic() + 10
            while client.request(Message("health")).meta["busy_workers"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            reply = client.request(Message("double", tensors={"x": np.ones(4)}))
            served_while_blocked = not release.is_set()
        release.set()
        t.join()
        slow.close()
    assert served_while_blocked
    np.testing.assert_array_equal(reply.tensors["y"], 2 * np.ones(4))


def test_server_config_validation() -> None:
    with pytest.raises(E.WireConfigError, match="max_connections"):
        ServerConfig(max_connections=0)
    with pytest.raises(E.WireConfigError, match="handshake_timeout_s"):
        ServerConfig(handshake_timeout_s=0)


def test_channels_expire_and_are_byte_capped_and_the_client_renews_them(codec: Codec) -> None:
    from ecc.wire.secure import ChannelLimits

    limits = ChannelLimits(max_bytes=60_000, max_age_s=0.5)
    cfg = ServerConfig(channel_limits=limits)
    client_cfg = TransportConfig(
        connect_timeout_s=2.0, read_timeout_s=5.0, retries=0, channel_limits=limits
    )
    x = np.ones(2_000, np.float32)  # 8 KB up, 8 KB back per request
    with (
        FrameServer(codec, {"double": _double}, config=cfg) as srv,
        Client(srv.address, codec, client_cfg) as client,
    ):
        for _ in range(16):  # ~130 KB per direction: more than two channels' worth
            np.testing.assert_array_equal(
                client.request(Message("double", tensors={"x": x})).tensors["y"], 2 * x
            )
        by_bytes = srv.stats.handshakes
        deadline = time.monotonic() + 10
        while srv.connections and time.monotonic() < deadline:
            time.sleep(0.05)  # idle past max_age_s: the server closes the connection
        closed_by_age = srv.connections == 0
        assert client.request(Message("health")).meta["status"] == "ok"  # renewed, no error
        total = srv.stats.handshakes
    assert by_bytes >= 3
    assert closed_by_age
    assert total == by_bytes + 1
