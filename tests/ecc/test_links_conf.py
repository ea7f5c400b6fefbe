"""The conf/link Hydra group builds valid link configs, through Hydra and without it."""

from __future__ import annotations

import pathlib

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ecc.links import LINK_KINDS, LinkConfig, LinkConfigError, TbfSettings

CONF = pathlib.Path(__file__).resolve().parents[2] / "conf" / "link"


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_every_kind_has_a_yaml_that_instantiates(kind: str) -> None:
    node = OmegaConf.load(CONF / f"{kind}.yaml")
    cfg = instantiate(node)
    assert isinstance(cfg, LinkConfig)
    assert cfg.kind == kind
    assert isinstance(cfg.tbf, TbfSettings)
    same = LinkConfig.from_mapping(node)
    assert same == cfg


def test_bad_yaml_value_names_the_field() -> None:
    node = OmegaConf.load(CONF / "auto.yaml")
    node.loss = 2.0
    with pytest.raises(LinkConfigError, match="loss"):
        LinkConfig.from_mapping(node)
    node = OmegaConf.load(CONF / "auto.yaml")
    node.tbf.mtu = 10
    with pytest.raises(LinkConfigError, match=r"tbf\.mtu"):
        LinkConfig.from_mapping(node)
