"""Collect scripted-expert demonstrations into HDF5 (robomimic / LIBERO layout).

    vecc-tool tool=collect_demos suite=object n_per_task=50 out=data/object.hdf5
    python -m experiments.tool tool=collect_demos suite=goal tasks=[open_the_drawer] n_per_task=2 \
        image_size=64 noise=0.1 out=/tmp/demo.hdf5

Fields: conf/tool/collect_demos.yaml (the old flags map there: --n-per-task 2 -> n_per_task=2).

Layout::

    data                      attrs: env_args (JSON, robomimic's: type 1 = robosuite), env_name,
                                     macros_image_convention ("opencv": rows top-down),
                                     total (samples), provenance (JSON), expert (JSON), seed,
                                     failures (JSON: task -> count)
    data/demo_{i}             attrs: num_samples, language, suite, task, init_state, noise_std,
                                     noise_seed
    data/demo_{i}/obs/<key>   one dataset per observation key (T, ...), images uint8
    data/demo_{i}/obs/<LIBERO key>  LIBERO's names (agents.libero_keys): soft links to ours
                                     (eye_in_hand_rgb -> wrist_rgb, ee_pos -> eef_pos,
                                     gripper_states -> gripper_qpos, joint_states -> joint_pos),
                                     ee_ori (axis-angle, 3) and ee_states (6) computed
    data/demo_{i}/actions     (T, 7) float32 clean expert labels
    data/demo_{i}/executed_actions  (T, 7) float32 actions actually executed (labels + noise)
    data/demo_{i}/states      (T, D) float64 flattened MuJoCo states before each action
    data/demo_{i}/rewards     (T,) float32
    data/demo_{i}/dones       (T,) int64, 1 at the last step
    mask/<suite>/<task>       names of the demos of each task (robomimic filter keys)

Only successful episodes are kept; failures are counted. The expert reads privileged
simulator state (see envs.experts.ScriptedExpert). Workers write shard files that the
main process merges (no data crosses processes except file names and counts).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import h5py
import numpy as np
from tqdm import tqdm

import envs
from agents.libero_keys import LIBERO_NAME, quat_xyzw_to_axisangle
from core.errors import not_allowed
from core.provenance import provenance
from envs.experts import ExpertConfig, ScriptedExpert
from envs.experts.rollout import run_episode
from experiments.apps import as_args

log = logging.getLogger("experiments.collect_demos")

N_INIT_STATES = 50


@dataclass(frozen=True)
class Job:
    """Collect ``n`` successful demos of one task into the shard file ``out``."""

    suite: str
    task: str
    n: int
    out: str
    image_size: int
    noise: float
    seed: int
    max_attempts: int
    render: bool = True


@dataclass(frozen=True)
class JobResult:
    """How a job went: demos kept, failed episodes, wall time (s)."""

    suite: str
    task: str
    out: str
    kept: int
    failures: int
    wall_s: float


def _task_seed(seed: int, suite: str, task: str) -> int:
    # Stable across processes and Python runs (hash() is salted per process).
    return (seed * 1_000_003 + zlib.crc32(f"{suite}/{task}".encode())) % (2**31)


def _write_demo(group: h5py.Group, ep, meta: dict) -> None:
    obs_group = group.create_group("obs")
    for key in ep.obs[0]:
        values = [o[key] for o in ep.obs]
        arr = np.asarray(values)
        if arr.dtype == object:
            continue
        opts = {"compression": "gzip", "compression_opts": 4} if arr.dtype == np.uint8 else {}
        obs_group.create_dataset(key, data=arr, **opts)
    _add_libero_names(obs_group)
    group.create_dataset("actions", data=ep.actions)
    group.create_dataset("executed_actions", data=ep.executed)
    group.create_dataset("states", data=ep.states)
    group.create_dataset("rewards", data=ep.rewards)
    group.create_dataset("dones", data=ep.dones)
    group.attrs["num_samples"] = len(ep.actions)
    for k, v in meta.items():
        group.attrs[k] = v


def _add_libero_names(obs: h5py.Group) -> None:
    """LIBERO's obs names beside ours: soft links (no copy), and its axis-angle orientation.

    The links are relative, so they stay valid when ``merge_shards`` copies the demo group
    under another name (h5py copies soft links as links).
    """
    for ours, libero in LIBERO_NAME.items():
        if ours in obs and libero not in obs:
            obs[libero] = h5py.SoftLink(ours)
    if "eef_quat" in obs and "eef_pos" in obs:
        ori = quat_xyzw_to_axisangle(obs["eef_quat"][()]).astype(np.float32)
        obs.create_dataset("ee_ori", data=ori)
        obs.create_dataset("ee_states", data=np.concatenate([obs["eef_pos"][()], ori], -1))


def env_args_for(suite: str, tasks: list[str], image_size: int, render: bool) -> dict[str, Any]:
    """robomimic's ``data.attrs["env_args"]``: ``type`` 1 (robomimic's EnvType.ROBOSUITE_TYPE:
    the scenes are robosuite 1.5 Panda scenes with its OSC_POSE controller), ``env_name``
    ``LiberoLike`` (our scene family, not a class in robosuite's registry: robomimic's
    ``EnvRobosuite`` cannot rebuild it, ``envs.make_env(**env_kwargs)`` per task does), and
    ``env_kwargs``: what ``envs.make_env`` takes plus the control settings (Hz, controller).
    LIBERO's own files also carry type 1 with a class only LIBERO's package registers.
    """
    return {
        "env_name": "LiberoLike",
        "type": 1,
        "env_kwargs": {
            "suite": suite,
            "tasks": tasks,
            "image_size": image_size,
            "perturbation": "standard",
            "render": render,
            "control_freq": 20,
            "controller": "OSC_POSE",
            "episode_limit": envs.episode_limit(suite),
            "gym_ids": [envs.get_task(suite, t).gym_id for t in tasks],
        },
    }


def collect_task(job: Job, on_episode: Callable[[bool], None] | None = None) -> JobResult:
    """Run the expert on init states 0, 1, ... of one task until ``job.n`` successes (worker).

    ``on_episode(success)`` is called after every episode (progress reporting in-process).
    """
    t0 = time.perf_counter()
    env = envs.make_env(
        job.suite, job.task, image_size=job.image_size, render=job.render, seed=job.seed
    )
    spec = envs.get_task(job.suite, job.task)
    limit = envs.episode_limit(job.suite)
    base = _task_seed(job.seed, job.suite, job.task)
    kept = failures = 0
    try:
        with h5py.File(job.out, "w") as f:
            for attempt in range(job.max_attempts):
                if kept >= job.n:
                    break
                init_state = attempt % N_INIT_STATES
                noise_seed = base + attempt
                expert = ScriptedExpert(ExpertConfig(noise_std=job.noise, noise_seed=noise_seed))
                ep = run_episode(
                    env,
                    expert,
                    seed=job.seed + attempt,
                    init_state=init_state,
                    max_steps=limit,
                    record=True,
                )
                if on_episode is not None:
                    on_episode(ep.success)
                if not ep.success:
                    failures += 1
                    log.info(
                        "%s/%s init %d failed in phase %s",
                        job.suite,
                        job.task,
                        init_state,
                        ep.final_phase,
                    )
                    continue
                meta = {
                    "language": spec.language,
                    "suite": job.suite,
                    "task": job.task,
                    "init_state": init_state,
                    "reset_seed": job.seed + attempt,
                    "noise_std": job.noise,
                    "noise_seed": noise_seed,
                }
                _write_demo(f.create_group(f"demo_{kept}"), ep, meta)
                kept += 1
    finally:
        env.close()
    return JobResult(job.suite, job.task, job.out, kept, failures, time.perf_counter() - t0)


def merge_shards(results: Sequence[JobResult], out: Path, attrs: dict) -> int:
    """Copy every shard's demos into ``out`` as demo_0..demo_{N-1}; returns total samples."""
    total = 0
    index = 0
    with h5py.File(out, "w") as dst:
        data = dst.create_group("data")
        mask = dst.create_group("mask")
        for r in results:
            names = []
            with h5py.File(r.out, "r") as src:
                for k in sorted(src.keys(), key=lambda s: int(s.split("_")[1])):
                    name = f"demo_{index}"
                    src.copy(src[k], data, name=name)
                    total += int(data[name].attrs["num_samples"])
                    names.append(name)
                    index += 1
            suite_group = mask.require_group(r.suite)
            suite_group.create_dataset(r.task, data=np.array(names, dtype="S"))
        data.attrs["total"] = total
        data.attrs["num_demos"] = index
        for k, v in attrs.items():
            data.attrs[k] = v
    return total


def run(cfg: Any) -> int:
    """The tool app's entry (conf/tool/collect_demos.yaml); returns the exit status."""
    args = as_args(cfg, paths=("out",))
    if not isinstance(args.tasks, str):
        args.tasks = ",".join(args.tasks)
    return collect(check_args(args))


def check_args(args: SimpleNamespace) -> SimpleNamespace:
    """Reject counts below 1 and a negative noise, naming the field and the allowed values."""
    for name in ("n_per_task", "image_size", "workers"):
        if getattr(args, name) < 1:
            raise ValueError(not_allowed(name, getattr(args, name), ">= 1"))
    if args.noise < 0 or not np.isfinite(args.noise):
        raise ValueError(not_allowed("noise", args.noise, "a finite number >= 0"))
    if args.max_attempts_factor < 1:
        raise ValueError(not_allowed("max_attempts_factor", args.max_attempts_factor, ">= 1"))
    return args


def collect(args: SimpleNamespace) -> int:
    """Collect the demos ``args`` asks for (the fields of conf/tool/collect_demos.yaml) into ``args.out``;
    0 when every task got its ``n_per_task`` demos, 1 otherwise."""
    logging.basicConfig(level=logging.WARNING)
    if args.suite not in envs.list_suites():
        raise ValueError(not_allowed("suite", args.suite, envs.list_suites()))
    available = list(envs.list_tasks(args.suite))
    tasks = available if args.tasks == "all" else [t.strip() for t in args.tasks.split(",")]
    bad = [t for t in tasks if t not in available]
    if bad:
        raise ValueError(
            f"tasks={bad} is not allowed in suite {args.suite!r}; allowed: {available}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    shard_dir = Path(tempfile.mkdtemp(prefix="demos_", dir=args.out.parent))
    max_attempts = int(np.ceil(args.n_per_task * args.max_attempts_factor))
    jobs = [
        Job(
            args.suite,
            t,
            args.n_per_task,
            str(shard_dir / f"{i:03d}_{t}.hdf5"),
            args.image_size,
            args.noise,
            args.seed,
            max_attempts,
            render=not args.no_render,
        )
        for i, t in enumerate(tasks)
    ]
    t0 = time.perf_counter()
    results: list[JobResult] = []
    bar = tqdm(total=len(jobs) * args.n_per_task, desc=f"demos {args.suite}", unit="demo")
    try:
        if args.workers == 1:
            failed = 0

            def tick(success: bool) -> None:
                nonlocal failed
                failed += not success
                bar.update(int(success))
                bar.set_postfix(failures=failed)

            for job in jobs:
                results.append(collect_task(job, tick))
        else:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                futures = [pool.submit(collect_task, job) for job in jobs]
                for fut in as_completed(futures):
                    r = fut.result()
                    results.append(r)
                    bar.update(r.kept)
                    bar.set_postfix(failures=sum(x.failures for x in results))
        bar.close()
        order = {t: i for i, t in enumerate(tasks)}
        results.sort(key=lambda r: order[r.task])
        env_args = env_args_for(args.suite, tasks, args.image_size, not args.no_render)
        attrs = {
            "env_args": json.dumps(env_args),
            "env_name": env_args["env_name"],
            "macros_image_convention": "opencv",  # rows top-down (LIBERO's files: "opengl")
            "provenance": json.dumps(provenance()),
            "expert": json.dumps(
                {
                    "class": "envs.experts.ScriptedExpert",
                    "privileged": True,
                    **{
                        k: v
                        for k, v in ExpertConfig(noise_std=args.noise).as_dict().items()
                        if k != "extra"
                    },
                }
            ),
            "seed": args.seed,
            "noise_std": args.noise,
            "failures": json.dumps({r.task: r.failures for r in results}),
            "command": "vecc-tool tool=collect_demos "
            + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        }
        total = merge_shards(results, args.out, attrs)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    print(f"{'task':40s} {'kept':>5s} {'failed':>6s} {'wall_s':>7s}")
    for r in results:
        print(f"{r.task:40s} {r.kept:5d} {r.failures:6d} {r.wall_s:7.1f}")
    short = [r for r in results if r.kept < args.n_per_task]
    print(
        f"wrote {args.out}: {sum(r.kept for r in results)} demos, {total} samples in {elapsed:.1f} s"
    )
    if short:
        print(
            f"WARNING: {len(short)} task(s) have fewer than {args.n_per_task} demos: "
            + ", ".join(f"{r.task} ({r.kept})" for r in short)
        )
        return 1
    return 0


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("tool", "collect_demos")
