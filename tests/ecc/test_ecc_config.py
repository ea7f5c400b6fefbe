"""Every YAML in conf/hardware, conf/network and conf/partition instantiates and validates."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecc.config import (
    context_from_config,
    hardware_from_config,
    network_from_config,
    planner_from_config,
)
from ecc.errors import EccError
from ecc.hardware import PRECISIONS
from ecc.network.link import LinkState
from ecc.network.traces import step, write_mahimahi

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("path", sorted((CONF / "hardware").glob("*.yaml")), ids=lambda p: p.stem)
def test_hardware_profiles(path):
    hw = hardware_from_config(OmegaConf.load(path))
    assert hw.name == path.stem
    assert all(hw.flops_per_s(p) > 0 for p in PRECISIONS)
    assert hw.source


@pytest.mark.parametrize("path", sorted((CONF / "network").glob("*.yaml")), ids=lambda p: p.stem)
def test_network_configs(path, tmp_path):
    cfg = OmegaConf.load(path)
    if path.stem == "mahimahi":
        cfg.trace.up = str(write_mahimahi(step([5.0, 1.0], 1.0, 4.0), tmp_path / "up.trace"))
        cfg.trace.down = str(write_mahimahi(step([9.0, 3.0], 1.0, 4.0), tmp_path / "down.trace"))
    net = network_from_config(cfg)
    assert isinstance(net.link, LinkState)
    assert net.link_at(3.0).up_mbps > 0
    # every traced preset states both directions (file or generator), never a derived downlink
    if cfg.trace is not None:
        desc = net.describe()["trace"]
        assert set(desc) == {"up", "down"}
        assert "x" not in desc["down"]["name"].split()
        if path.stem == "mahimahi":
            assert desc["down"]["sha256"]
            assert desc["up"]["path"].endswith("up.trace")
            assert net.link_at(3.0).down_mbps == pytest.approx(3.0, rel=0.05)


@pytest.mark.parametrize("path", sorted((CONF / "partition").glob("*.yaml")), ids=lambda p: p.stem)
def test_partition_configs_plan(path):
    cfg = OmegaConf.load(path)
    planner = planner_from_config(cfg)
    ctx = context_from_config("openvla-7b", "orin_agx_64gb", "a100_80gb", cfg)
    plan = planner.plan(ctx, LinkState(20, 80, 10))
    assert plan.predicted_ms > 0


def test_bad_hardware_field_is_named():
    cfg = OmegaConf.load(CONF / "hardware" / "a100_80gb.yaml")
    cfg.mem_bw = 1
    with pytest.raises(EccError, match="mem_bw"):
        hardware_from_config(cfg)
