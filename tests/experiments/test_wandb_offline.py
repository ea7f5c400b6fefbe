import imageio
import numpy as np

from experiments.loggers import WandbLogger
from experiments.results import EpisodeRecord, summarize
from experiments.wandb_offline import find_offline_runs, read_offline_run


def test_offline_run_holds_config_episodes_and_summary(tmp_path):
    records = [
        EpisodeRecord(
            "object",
            "t",
            i,
            i,
            i % 2 == 0,
            10 + i,
            0.5,
            1.0,
            step_latency_ms={"policy_ms": [1.0, 3.0]},
        )
        for i in range(3)
    ]
    logger = WandbLogger(run_dir=tmp_path, run_config={"env": {"suite": "object"}, "seed": 7})
    video = tmp_path / "episode0.mp4"
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24] = np.arange(6, dtype=np.uint8)[:, None, None, None] * 40
    imageio.mimwrite(str(video), frames, fps=20, macro_block_size=1)
    for i, r in enumerate(records):
        logger.log_episode(r, i, video=video if i == 0 else None)
    logger.log_summary(summarize(records))
    logger.finish()

    runs = find_offline_runs(tmp_path)
    assert len(runs) == 1
    run = read_offline_run(runs[0])
    assert run.config["env"] == {"suite": "object"}
    assert run.config["seed"] == 7
    steps = [h["episode/steps"] for h in run.history if "episode/steps" in h]
    assert steps == [10, 11, 12]
    assert run.summary["episodes"] == 3
    assert abs(run.summary["success_rate"] - 2 / 3) < 1e-9
    assert run.summary["latency_ms/policy_ms_mean"] == 2.0
    assert run.exit_code == 0
    # The episode video travels with the offline run (files/media/videos/...mp4).
    media = list(runs[0].glob("files/media/videos/episode/video_*.mp4"))
    assert len(media) == 1
    assert media[0].stat().st_size == video.stat().st_size
