"""Emulated edge-cloud runtime: a real cloud stage server and an edge client exchanging real frames."""

from ecc.emulated.client import CloudUnavailable, SplitExecutor, SplitTiming, probe_output_keys
from ecc.emulated.server import StageServer, model_fingerprint
from ecc.emulated.split_plan import Segment, module_order, placement_for_cut, plan_segments

__all__ = [
    "CloudUnavailable",
    "Segment",
    "SplitExecutor",
    "SplitTiming",
    "StageServer",
    "model_fingerprint",
    "module_order",
    "placement_for_cut",
    "plan_segments",
    "probe_output_keys",
]
