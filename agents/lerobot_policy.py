"""Policy checkpoints in LeRobot's directory layout (PreTrainedConfig + processor pipelines).

Directory written by ``save_lerobot_checkpoint`` (the files LeRobot's processor-pipeline
releases write for a policy: config.json, model.safetensors, policy_pre/postprocessor)::

    config.json                     PreTrainedConfig fields: type, n_obs_steps, input_features,
                                    output_features, normalization_mapping, chunk_size,
                                    n_action_steps, device, ...; our own block under "vecc"
    model.safetensors               the weights (our module names, the same file as ours)
    policy_preprocessor.json        rename -> to_batch -> device -> normalizer steps
    policy_preprocessor_step_3_normalizer_processor.safetensors     observation.state.{mean,std},
                                                                     action.{q01,q99,mean,std}
    policy_postprocessor.json       unnormalizer -> device steps
    policy_postprocessor_step_0_unnormalizer_processor.safetensors  action.{q01,q99,mean,std}
    stats.json, tokenizer.json      our normalisation stats (float64) and word tokenizer

``agents.policy.load_policy`` loads such a directory (through ``agents.lerobot_layout``).

Features: ``observation.images.<camera key>`` (VISUAL, [3, S, S]), ``observation.state``
(STATE: the policy's proprio keys concatenated, as ``agents.lerobot_format`` writes a dataset),
``action`` (ACTION, [7]). Normalisation: STATE MEAN_STD, ACTION QUANTILES (q01/q99 -> [-1, 1],
OpenVLA's bounds), VISUAL IDENTITY (uint8 frames enter ``agents.preprocess`` as they are).

What LeRobot cannot do with it: ``type`` is ``vecc_<family>``, a name no LeRobot policy class
registers, so LeRobot's ``from_pretrained`` cannot build the model (not tried: lerobot is not
installed here); the config, the feature layout and the normaliser files are there for LeRobot
tooling (and people) to read. Two details
of our normalisation have no LeRobot field and sit in the ``vecc`` block: the action mask
(the gripper passes through unnormalised) and the clip to [-1, 1]. ``stats.json`` is what
``load_policy`` uses (exact); the float32 normaliser files are checked against it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from safetensors.torch import save_file

from agents.errors import CheckpointError
from agents.lerobot_layout import (
    NORM_MAP,
    POST_STATE,
    PRE_STATE,
    TYPE_PREFIX,
    features,
    is_lerobot_checkpoint,
    stat_tensors,
)
from agents.policy import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    VLAPolicy,
    _sha256,
    load_policy,
    read_checkpoint_config,
)
from agents.shape_io import shape_to_dict
from core.errors import not_allowed


def save_lerobot_checkpoint(
    root: str | Path, policy: VLAPolicy, extra: dict | None = None, device: str = "cpu"
) -> Path:
    """Write ``policy`` into directory ``root`` (created; must not exist) in LeRobot's layout."""
    out = Path(root)
    if out.exists():
        raise CheckpointError(not_allowed("root", str(out), "a path that does not exist yet"))
    out.mkdir(parents=True)
    s = policy.shape
    weights = out / "model.safetensors"
    state = {k: v.detach().contiguous().cpu() for k, v in policy.model.state_dict().items()}
    save_file(state, str(weights), metadata={"format": "pt"})
    inputs, outputs = features(s, policy.config.camera_keys)
    pre_state, post_state = stat_tensors(policy.stats, bool(s.proprio_dim))
    save_file(pre_state, str(out / PRE_STATE))
    save_file(post_state, str(out / POST_STATE))
    (out / "stats.json").write_text(json.dumps(policy.stats.to_dict(), indent=1))
    policy.tokenizer.save(out / "tokenizer.json")
    all_features = {**inputs, **outputs}
    device_step = {
        "registry_name": "device_processor",
        "config": {"device": device, "float_dtype": None},
    }
    pre = {
        "name": "policy_preprocessor",
        "steps": [
            {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
            {"registry_name": "to_batch_processor", "config": {}},
            device_step,
            {
                "registry_name": "normalizer_processor",
                "config": {"eps": policy.stats.eps, "features": all_features, "norm_map": NORM_MAP},
                "state_file": PRE_STATE,
            },
        ],
    }
    post = {
        "name": "policy_postprocessor",
        "steps": [
            {
                "registry_name": "unnormalizer_processor",
                "config": {"eps": policy.stats.eps, "features": outputs, "norm_map": NORM_MAP},
                "state_file": POST_STATE,
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        ],  # actions leave on the CPU, as LeRobot's own postprocessors write it
    }
    (out / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    (out / "policy_postprocessor.json").write_text(json.dumps(post, indent=2))
    chunk = s.head.chunk
    config = {
        "type": f"{TYPE_PREFIX}{s.family}",
        "n_obs_steps": 1,
        "normalization_mapping": NORM_MAP,
        "input_features": inputs,
        "output_features": outputs,
        "device": device,
        "use_amp": False,
        "push_to_hub": False,
        "repo_id": None,
        "private": None,
        "tags": None,
        "license": None,
        "pretrained_path": None,
        "chunk_size": chunk,
        "n_action_steps": policy.config.n_action_steps or chunk,
        "tokenizer_max_length": s.prompt_tokens,
        "vecc": {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "family": s.family,
            "shape": shape_to_dict(s),
            "policy": asdict(policy.config),
            "state_keys": list(policy.config.proprio_keys),
            "action_mask": list(policy.stats.action_mask),
            "action_clip": [-1.0, 1.0],
            "image_input": "uint8 HxWx3 per camera, resized and scaled to [-1, 1] by the model",
            "tokenizer": "tokenizer.json",
            "param_count": sum(p.numel() for p in policy.model.parameters()),
            "weights_sha256": _sha256(weights),
            "extra": extra or {},
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


def export_lerobot(src: str | Path, dst: str | Path, extra: dict | None = None) -> Path:
    """Our checkpoint ``src`` as a LeRobot-style directory ``dst`` (replacing it); the source's
    ``extra`` (step, training config, ...) is kept, ``extra`` is added to it."""
    policy = load_policy(src)
    src_config = read_checkpoint_config(src) if not is_lerobot_checkpoint(src) else {}
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    record = {**src_config.get("extra", {}), "exported_from": str(src), **(extra or {})}
    return save_lerobot_checkpoint(dst, policy, record)
