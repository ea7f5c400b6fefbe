"""Write demos as a LeRobotDataset v3, or a checkpoint in LeRobot's policy layout.

    vecc-tool tool=export_lerobot demos=data/object.hdf5 out=data/object_lerobot
    vecc-tool tool=export_lerobot checkpoint=checkpoints/object/pi0_tiny out=/tmp/pi0_lerobot

Fields: conf/tool/export_lerobot.yaml. The dataset is what ``experiments.train demos=<out>``
reads; the checkpoint directory is what ``load_policy`` (every ``policy.checkpoint=``) reads.
Layouts: ``agents.lerobot_format`` and ``agents.lerobot_policy``; docs/interop.md.
"""

from __future__ import annotations

from typing import Any

from agents.lerobot_format import write_lerobot
from agents.lerobot_policy import export_lerobot
from core.errors import not_allowed
from core.provenance import provenance
from experiments.apps import as_args


def run(cfg: Any) -> None:
    """The tool app's entry: export one of ``demos`` / ``checkpoint`` to ``out``; prints one line."""
    args = as_args(cfg, paths=("checkpoint", "out"))
    if (args.demos is None) == (args.checkpoint is None):
        raise ValueError(
            not_allowed(
                "demos/checkpoint",
                [args.demos, args.checkpoint],
                "exactly one of demos=<HDF5> or checkpoint=<dir>",
            )
        )
    if args.demos is not None:
        info = write_lerobot(
            args.demos, args.out, tuple(args.camera_keys), tuple(args.proprio_keys), fps=args.fps
        )
        print(
            f"wrote LeRobotDataset {info['codebase_version']} {args.out}: "
            f"{info['total_episodes']} episodes, {info['total_frames']} frames, "
            f"{info['total_tasks']} tasks"
        )
        return
    out = export_lerobot(args.checkpoint, args.out, extra={"exported_by": provenance()})
    print(f"wrote LeRobot-style checkpoint {out} from {args.checkpoint}")


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "export_lerobot")
