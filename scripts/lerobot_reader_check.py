"""Does LeRobot's own dataset reader load a LeRobotDataset written by VLA-ECC Lab, with our values?

Runs in a separate environment that has LeRobot's reader (its torchvision does not import beside
the project's torch 2.13 CPU wheel); scripts/check_lerobot_reader.sh builds one and calls this:

    python scripts/lerobot_reader_check.py <demos.hdf5> <lerobot root written from it> [samples]

Compares actions, proprio and agent-view pixels of ``samples`` frames spread over the dataset with
the HDF5 it was written from; exits 1 on the first mismatch.
"""

from __future__ import annotations

import sys

import h5py
import numpy as np
from ledataset.datasets.lerobot_dataset import LeRobotDataset


def main(h5_path: str, root: str, samples: int = 200) -> int:
    ds = LeRobotDataset("vecc/local", root=root)
    with h5py.File(h5_path, "r") as f:
        names = sorted(f["data"], key=lambda k: int(k.split("_")[1]))
        lengths = [f["data"][n]["actions"].shape[0] for n in names]
        if (ds.num_episodes, ds.num_frames) != (len(names), sum(lengths)):
            print(f"MISMATCH: reader {ds.num_episodes} episodes / {ds.num_frames} frames, "
                  f"HDF5 {len(names)} / {sum(lengths)}")  # fmt: skip
            return 1
        starts = np.cumsum([0, *lengths])
        worst = {"action": 0.0, "eef_pos": 0.0, "agentview_rgb (0-255)": 0.0}
        for i in np.linspace(0, ds.num_frames - 1, samples).astype(int):
            item = ds[int(i)]
            ep = int(np.searchsorted(starts, i, side="right") - 1)
            k = int(i - starts[ep])
            if (int(item["episode_index"]), int(item["frame_index"])) != (ep, k):
                print(f"MISMATCH: frame {i} is episode {int(item['episode_index'])}, want {ep}")
                return 1
            demo = f["data"][names[ep]]
            img = item["observation.images.agentview_rgb"].numpy().transpose(1, 2, 0) * 255.0
            diffs = {
                "action": np.abs(item["action"].numpy() - demo["actions"][k]).max(),
                "eef_pos": np.abs(item["observation.eef_pos"].numpy() - demo["obs"]["eef_pos"][k]).max(),
                "agentview_rgb (0-255)": np.abs(img - demo["obs"]["agentview_rgb"][k]).max(),
            }  # fmt: skip
            for name, d in diffs.items():
                worst[name] = max(worst[name], float(d))
    print(f"LeRobotDataset (lerobot-dataset reader): {ds.num_episodes} episodes, {ds.num_frames} "
          f"frames, {ds.fps} fps, features {sorted(ds.features)}")  # fmt: skip
    print(
        f"{samples} frames vs the HDF5, max abs diff: "
        + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
    )
    ok = worst["action"] < 1e-6 and worst["eef_pos"] < 1e-6 and worst["agentview_rgb (0-255)"] < 0.5
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200))
