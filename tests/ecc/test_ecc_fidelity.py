"""The trace's transfer plan against real tensors: run a tiny zoo model stage by stage and
count the bytes that the staged rule would send at each device change."""

import numpy as np
import pytest
import torch

from agents import zoo
from ecc.cost import Partition, plan_transfers
from ecc.flopcheck import example_inputs
from ecc.trace import build_trace


def real_transfers(model, inputs, trace, partition):
    """Same rule as ecc.cost.plan_transfers, on the model's actual tensors (fp32)."""
    state = model.init_state(inputs)
    loc = {k: {"edge"} for k in state}
    here, msgs = "edge", []
    for spec, st in zip(model.stages(), trace.stages):
        dev = "cloud" if partition.on_cloud[st.unit] else "edge"
        if dev != here:
            msgs.append(["up" if dev == "cloud" else "down", 0])
            here = dev
        for t in spec.reads:
            if dev not in loc[t]:
                msgs[-1][1] += state[t].numel() * state[t].element_size()
                loc[t].add(dev)
        out = model.run_stage(spec, state)
        state.update(out)
        for t in out:
            loc[t] = {dev}
    if here != "edge":
        outs = [k for k in state if k.startswith("out.") or k == "expert.x" or k == "actions"]
        msgs.append(
            [
                "down",
                sum(
                    state[k].numel() * state[k].element_size() for k in outs if "edge" not in loc[k]
                ),
            ]
        )
    return msgs


@pytest.mark.parametrize("name", ["openvla-tiny", "oft-tiny", "pi0-tiny", "cogact-tiny"])
def test_planned_bytes_equal_real_tensor_bytes(name):
    torch.set_num_threads(1)
    shape = zoo.get_shape(name)
    model = zoo.build_model(shape).eval()
    inputs = example_inputs(shape)
    # fp32 model, float images sent as they are: 4 bytes per value everywhere.
    trace = build_trace(shape, granularity="block", act_bytes=4.0, image_bytes_per_value=4.0)
    rng = np.random.default_rng(0)
    cuts = sorted({0, trace.n_units, *rng.integers(1, trace.n_units, 6).tolist()})
    with torch.no_grad():
        for direction in ("edge_prefix", "cloud_prefix"):
            for cut in cuts:
                part = Partition.single_cut(trace, cut, direction)
                planned = [
                    [t.direction, t.nbytes] for t in plan_transfers(trace, part, charge_io=True)
                ]
                assert planned == real_transfers(model, inputs, trace, part), (
                    direction,
                    trace.cut_name(cut),
                )
