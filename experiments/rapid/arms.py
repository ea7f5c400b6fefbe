"""The scheduler arms the latency studies compare: each a list of main-job overrides.

Triggered arms (entropy, failure score, RAPID) replan in the CLOUD when triggered
(``scheduler.target=cloud``) and run their routine chunk-refill inferences under
``trigger_partition`` (default ``edge_only``): the RAPID split, where redundant phases stay on the
edge and critical ones go to the cloud. An arm never touches the policy object: what it needs of
the policy (sample spread, features) is a policy field it sets (``policy.spread_samples``,
``policy.features``).
"""

from __future__ import annotations

from experiments.rapid.errors import RapidExperimentError

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


def entropy_overrides(family: str) -> list[str]:
    """The entropy arm's scheduler for a policy family, and the policy field its signal needs.

    An OFT policy has no uncertainty signal (deterministic L1 regression): refused.
    """
    if family not in ENTROPY_CONF_BY_FAMILY:
        raise RapidExperimentError(
            "arms",
            f"entropy (policy family {family})",
            [f"a {f} policy" for f in ENTROPY_CONF_BY_FAMILY],
        )
    conf = ENTROPY_CONF_BY_FAMILY[family]
    spread = [f"policy.spread_samples={SPREAD_SAMPLES}"] if conf == "sample_spread" else []
    return [f"scheduler={conf}", *spread]


def arm_overrides(
    name: str,
    family: str,
    rapid_conf: str = "rapid_calibrated",
    failure_calibration: str | None = None,
    entropy_threshold: float | None = None,
    trigger_partition: str = "edge_only",
) -> list[str]:
    """Main-job overrides of arm ``name`` for a policy of ``family``.

    ``rapid_conf``: the scheduler group option of the RAPID arm; ``failure_calibration``: the npz
    the failure-score arm needs (``ecc.schedulers.safe``); ``entropy_threshold``: None keeps the
    scheduler file's threshold.
    """
    triggered = ["scheduler.target=cloud", f"partition={trigger_partition}"]
    if name == "edge_only":
        return ["scheduler=every_step", "partition=edge_only"]
    if name == "cloud_only":
        return ["scheduler=every_step", "partition=cloud_only"]
    if name == "chunk_replay":
        return ["scheduler=chunk_replay", "partition=edge_only"]
    if name == "entropy":
        threshold = (
            [] if entropy_threshold is None else [f"scheduler.threshold={entropy_threshold}"]
        )
        return [*entropy_overrides(family), *threshold, *triggered]
    if name == "failure_score":
        if failure_calibration is None:
            raise RapidExperimentError(
                "failure_calibration", None, "an npz from experiments.rapid.calibrate_failure_score"
            )
        return [
            "scheduler=failure_score",
            f"scheduler.calibration={failure_calibration}",
            "policy.features=true",
            *triggered,
        ]
    if name == "rapid":
        return [f"scheduler={rapid_conf}", *triggered]
    raise RapidExperimentError("arms", name, list(ARM_NAMES))
