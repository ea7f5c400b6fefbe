"""openpi front end: the real openpi-client against our server in its own process, and hostile frames."""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from agents.openpi_protocol import OpenpiProtocolError, pack, unpack
from tests.ecc.openpi_server_proc import openpi_server

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints/object/pi0_tiny"

openpi_client = pytest.importorskip("openpi_client.websocket_client_policy")
websockets_client = pytest.importorskip("websockets.sync.client")


@pytest.fixture(scope="module")
def server_port(tmp_path_factory):
    with openpi_server(
        CKPT, tmp_path_factory.mktemp("openpi_server"), "--max-frame-mib", "1"
    ) as port:
        yield port


def _obs(md: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    s = md["image_size"]
    obs = {k: rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for k in md["camera_keys"]}
    obs.update(eef_pos=np.zeros(3), eef_quat=np.array([0, 0, 0, 1.0]), gripper_qpos=np.zeros(2))
    obs["prompt"] = "pick up the alphabet soup and place it in the basket"
    return obs


def test_openpi_client_gets_actions(server_port):
    client = openpi_client.WebsocketClientPolicy("127.0.0.1", server_port)
    md = client.get_server_metadata()
    assert md["authenticated"] is False
    out = client.infer(_obs(md))
    acts = out["actions"]
    assert acts.shape == (md["chunk"], md["action_dim"])
    assert acts.dtype == np.float32
    assert np.isfinite(acts).all()
    assert out["server_timing"]["infer_ms"] > 0
    # Same policy in-process, same noise seed (first call of an episode): the same chunk.
    from agents.policy import load_policy

    local = load_policy(CKPT)
    obs = _obs(md)
    local.reset(language=obs["prompt"])
    chunk, _ = local.predict_action_chunk(obs)
    client2 = openpi_client.WebsocketClientPolicy("127.0.0.1", server_port)
    np.testing.assert_allclose(client2.infer(obs)["actions"], chunk, rtol=1e-5, atol=1e-5)


def test_bad_observation_is_a_clear_error(server_port):
    client = openpi_client.WebsocketClientPolicy("127.0.0.1", server_port)
    obs = _obs(client.get_server_metadata())
    del obs["eef_pos"]
    with pytest.raises(RuntimeError, match="eef_pos"):
        client.infer(obs)


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (
            {b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<f4", b"shape": [10**9, 10**9]},
            "declares",
        ),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "|O", b"shape": [1]}, "dtype"),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<f4", b"shape": [-2]}, "shape"),
    ],
)
def test_hostile_frames_rejected_and_closed(server_port, array, needle):
    with websockets_client.connect(f"ws://127.0.0.1:{server_port}", max_size=None) as ws:
        ws.recv()  # metadata
        ws.send(msgpack.packb({"x": array}, use_bin_type=True))
        reply = ws.recv()
        assert isinstance(reply, str)
        assert needle in reply
        with pytest.raises(Exception, match=r"1008|bad frame"):
            ws.recv()


def test_oversized_frame_closes(server_port):
    with websockets_client.connect(f"ws://127.0.0.1:{server_port}", max_size=None) as ws:
        ws.recv()
        ws.send(b"\x00" * (2 << 20))  # over the 1 MiB limit given on the command line
        with pytest.raises(Exception, match=r"1009|too big|message"):
            ws.recv()


def test_codec_round_trip_and_limits():
    x = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "s": np.float32(1.5), "t": "hi"}
    y = unpack(pack(x), 1 << 20)
    np.testing.assert_array_equal(y["a"], x["a"])
    assert y["s"] == np.float32(1.5)
    assert y["t"] == "hi"
    with pytest.raises(OpenpiProtocolError, match="frame bytes"):
        unpack(pack(x), 10)
    with pytest.raises(OpenpiProtocolError, match="msgpack"):
        unpack(b"\xc1", 100)
