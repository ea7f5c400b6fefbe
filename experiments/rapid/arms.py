"""The scheduler arms the latency studies compare, each with the partition of its default inferences.

Triggered arms (entropy, failure score, RAPID) replan in the CLOUD when triggered (``target: cloud``)
and run their routine chunk-refill inferences under ``trigger_partition`` (default ``edge_only``): the
RAPID split, where redundant phases stay on the edge and critical ones go to the cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.rapid.closed_loop import Arm
from experiments.rapid.errors import RapidExperimentError
from experiments.rapid.scheduler_conf import scheduler_from_yaml

ARM_NAMES: tuple[str, ...] = (
    "edge_only",
    "cloud_only",
    "chunk_replay",
    "entropy",
    "failure_score",
    "rapid",
)

LABELS: dict[str, str] = {
    "edge_only": "Edge-only (every step)",
    "cloud_only": "Cloud-only (every step)",
    "chunk_replay": "Chunk replay (edge)",
    "entropy": "Entropy trigger",
    "failure_score": "SAFE failure score",
    "rapid": "RAPID",
}


SPREAD_SAMPLES = 8  # noise samples per inference behind a flow/diffusion policy's sample spread
ENTROPY_CONF_BY_FAMILY: dict[str, str] = {
    "openvla": "entropy",  # token entropy of the autoregressive action tokens (nats)
    "pi0": "sample_spread",  # spread of the chunk over noise samples
    "cogact": "sample_spread",
}


def setup_entropy_arm(policy: Any, names: list[str]) -> str:
    """The scheduler conf of the entropy arm for ``policy``'s family (``entropy`` if unused).

    Turns on the acting policy's sample spread for flow/diffusion families; an OFT policy has
    no uncertainty signal (deterministic L1 regression), so the arm is refused for it.
    """
    if "entropy" not in names:
        return "entropy"
    family = policy.shape.family
    if family not in ENTROPY_CONF_BY_FAMILY:
        raise RapidExperimentError(
            "arms",
            f"entropy (policy family {family})",
            [f"a {f} policy" for f in ENTROPY_CONF_BY_FAMILY],
        )
    conf = ENTROPY_CONF_BY_FAMILY[family]
    if conf == "sample_spread":
        inner = getattr(policy, "policy", policy)  # FeaturePolicy wraps the VLAPolicy
        inner.config.spread_samples = SPREAD_SAMPLES
    return conf


def build_arms(
    names: list[str],
    rapid_conf: str | Path,
    failure_calibration: str | Path | None,
    entropy_threshold: float | None = None,
    trigger_partition: str = "edge_only",
    entropy_conf: str = "entropy",
) -> list[Arm]:
    """Arms in the order given; ``failure_calibration`` is the npz the failure-score arm needs.

    ``entropy_conf``: conf/scheduler file of the entropy arm (``setup_entropy_arm`` picks it).
    """
    from ecc.schedulers import EveryStep, QueueThreshold

    makers: dict[str, tuple[Callable[[], Any], str]] = {
        "edge_only": (EveryStep, "edge_only"),
        "cloud_only": (EveryStep, "cloud_only"),
        "chunk_replay": (lambda: QueueThreshold(fraction=0.0), "edge_only"),
        "entropy": (
            lambda: scheduler_from_yaml(
                entropy_conf,
                target="cloud",
                **({"threshold": entropy_threshold} if entropy_threshold is not None else {}),
            ),
            trigger_partition,
        ),
        "failure_score": (
            lambda: scheduler_from_yaml(
                "failure_score", calibration=str(failure_calibration), target="cloud"
            ),
            trigger_partition,
        ),
        "rapid": (lambda: scheduler_from_yaml(rapid_conf, target="cloud"), trigger_partition),
    }
    arms = []
    for n in names:
        if n not in makers:
            raise RapidExperimentError("arms", n, list(ARM_NAMES))
        if n == "failure_score" and failure_calibration is None:
            raise RapidExperimentError(
                "failure_calibration", None, "an npz from experiments.rapid.calibrate_failure_score"
            )
        make, partition = makers[n]
        arms.append(Arm(n, make, partition))
    return arms
