"""How much do stored-weight choices move a policy's actions? Offline, on demonstration frames.

    vecc-study study=quant_weight_error checkpoint=checkpoints/object/pi0_tiny \
        demos=data/object_50.hdf5 frames=200 \
        "variants=['base=','asym=weight_symmetric=false','asym_clip=weight_symmetric=false,weight_clip_search=10']"

Fields: conf/study/quant_weight_error.yaml (the old flags map there: --variant X -> variants=[X]).

Every variant is ``conf/quantization/dyq.yaml``'s weight side with the listed fields replaced
(``field=value`` pairs, comma-separated; values parsed as YAML). Per variant the table gives the
exact model footprint (bytes and share of the BF16 model's) and the mean / p90 absolute
difference of the first predicted action from the unquantized policy's (normalised action
units), with activations at BF16 and at each of ``act_bits``. Same frames, same noise for every
variant, so rows compare directly. A screen before a closed-loop evaluation, not a substitute.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import yaml

from agents.data import load_demos
from agents.policy import load_policy
from experiments.apps import as_args
from experiments.tables import markdown_table
from quantization.apply import quantize_model
from quantization.calib_data import demo_frames
from quantization.config import dyq_weight_config, method_config
from quantization.errors import QuantConfigError
from quantization.linear import set_act_bits
from quantization.memory import model_memory_bytes

log = logging.getLogger(__name__)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name=field=value,field=value`` -> (name, overrides); ``name=`` means no override.

    Values are YAML (``false``, ``64``, ``null``, ``[vision,llm]``, ``{llm: 8}``); commas
    inside brackets or braces belong to the value.
    """
    usage = "NAME=[field=value[,field=value...]]"
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise QuantConfigError("variant", text, usage)
    items, depth, start = [], 0, 0
    for i, ch in enumerate(rest + ","):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(rest[start:i])
            start = i + 1
    if depth:
        raise QuantConfigError(f"variant {name}", rest, "values with balanced [ ] and { }")
    overrides: dict[str, Any] = {}
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise QuantConfigError("variant", text, usage)
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise QuantConfigError(f"variant {name}: {key}", value, "a YAML value") from None
    return name, overrides


@torch.no_grad()
def action_errors(
    model: torch.nn.Module, batches: Sequence[dict], refs: Sequence[torch.Tensor], bits: int
) -> np.ndarray:
    """|first action - reference| averaged over action dims, one value per batch."""
    set_act_bits(model, bits)
    try:
        return np.array(
            [float((model(b)["actions"][:, 0].float() - r).abs().mean()) for b, r in zip(batches, refs)]
        )  # fmt: skip
    finally:
        set_act_bits(model, 16)


def compare_variants(
    policy: Any,
    demos: Any,
    cfgs: dict[str, Any],
    frames: int = 200,
    act_bits: Sequence[int] = (8, 4),
) -> tuple[list[dict[str, str]], int]:
    """One table row per weight config (footprint, action error per activation precision).

    ``policy`` (a ``VLAPolicy``) is left unquantized: every variant quantizes a copy.
    Returns the rows and the BF16 model's bytes.
    """
    n = len(demos.actions)
    rows = np.linspace(0, n - 1, min(frames, n)).astype(int)
    batches = [demo_frames(policy, demos, np.array([r]), seed=int(r)) for r in rows]
    ref_model = policy.model.eval()
    with torch.no_grad():
        refs = [ref_model(b)["actions"][:, 0].float() for b in batches]
    bf16 = model_memory_bytes(ref_model, {"name": "none", "weight_bits": 16, "act_bits": 16}).total
    table = []
    for name, cfg in cfgs.items():
        model = copy.deepcopy(ref_model)
        quantize_model(model, cfg)
        mem = model_memory_bytes(model, cfg).total
        row = {"variant": name, "bytes": f"{mem:,}", "of bf16": f"{mem / bf16:.3f}"}
        for bits in (16, *act_bits):
            e = action_errors(model, batches, refs, bits)
            row[f"A{bits} mean / p90"] = f"{e.mean():.4f} / {np.percentile(e, 90):.4f}"
        table.append(row)
        log.info("%s", " | ".join(row.values()))  # progress: one line per variant
    return table, bf16


def run(cfg: Any) -> None:
    """The study app's entry (conf/study/quant_weight_error.yaml): print the table."""
    args = as_args(cfg)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        variants = dict(parse_variant(v) for v in args.variants or ["dyq.yaml="])
        cfgs = {name: method_config(dyq_weight_config(**ov)) for name, ov in variants.items()}
    except QuantConfigError as e:
        raise SystemExit(f"experiments.quant_weight_error: {e}") from None
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint)
    demos = load_demos(args.demos, policy.config.camera_keys, policy.config.proprio_keys,
                       policy.shape.vision[0].image_size)  # fmt: skip
    table, bf16 = compare_variants(policy, demos, cfgs, args.frames, args.act_bits)
    print(
        f"\n{min(args.frames, len(demos.actions))} frames of {args.demos}; BF16 model {bf16:,} B\n"
    )
    print(markdown_table(table))


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "quant_weight_error")
