"""Episode jobs of the main job: the sequential loop, the worker-process pool and the shard selector.

An evaluation is the list ``tasks x init states``; each item is one episode with a run-wide
``index``. ``select_episodes`` keeps the items of one shard (``eval.shard`` of ``eval.num_shards``,
contiguous blocks of that list, so every shard is deterministic and the shards tile the run).

``run_task_episodes`` plays some episodes of one task on one env + actor. Episode ``k`` of a task
must see the actor exactly as the sequential run leaves it after ``k`` episodes: the runtime's
latency draws are seeded by the number of ``actor.reset`` calls (ecc.runtime.deployment), so
skipped episodes are replayed as resets (env reset to that init state, ``actor.reset``) without
stepping. In blocking mode a worker's episode is then identical to the sequential one (success,
steps, world time); in realtime mode each episode keeps its own world clock and latency stream
(both restart at the reset and are seeded by the reset count). Actor state that is carried across
episodes by stepping (none of the shipped actors carries any) would break that identity.

Why no batched policy across workers: the policy costs 2.4-2.8 ms per control step against
20-24 ms for the env with two 64 px cameras (issue 24's measurement), so batching inference over
workers could save at most ~11% of a step while adding a cross-process round trip on every step
and tying every worker's clock to the slowest one. A process per worker, each with its own env
and actor, is what uses the cores.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import VeccError, not_allowed
from ecc.runtime.records import EpisodeRecord, EpisodeStart
from ecc.runtime.subscribers import Subscriber, SubscriberBase

# Each worker runs one single-threaded episode stream; more BLAS/torch threads per worker would
# only fight the other workers for the same cores.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LP_NUM_THREADS")


class ParallelEvalError(VeccError):
    """A worker process failed; the message carries its traceback."""


@dataclass(frozen=True)
class EpisodeJob:
    """One episode of the run: ``index`` in the run, ``k``-th init state of ``task``."""

    index: int
    task: str
    k: int
    init_state: int


def episode_jobs(tasks: Sequence[str], init_states: Sequence[int]) -> list[EpisodeJob]:
    """Every episode of an evaluation, in the sequential run's order."""
    jobs, index = [], 0
    for task in tasks:
        for k, init_state in enumerate(init_states):
            jobs.append(EpisodeJob(index, task, k, int(init_state)))
            index += 1
    return jobs


def select_episodes(jobs: Sequence[EpisodeJob], shard: int, num_shards: int) -> list[EpisodeJob]:
    """The contiguous block ``shard`` of ``num_shards`` near-equal blocks of ``jobs``."""
    # config_checks loads agents/quantization; run.py imports this module at start-up (--help)
    from experiments.config_checks import ConfigError

    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise ConfigError(not_allowed("eval.num_shards", num_shards, "an integer >= 1"))
    if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < num_shards:
        raise ConfigError(not_allowed("eval.shard", shard, f"an integer in [0, {num_shards - 1}]"))
    if num_shards > len(jobs):
        raise ConfigError(
            not_allowed("eval.num_shards", num_shards, f"at most the {len(jobs)} episodes")
        )
    lo = shard * len(jobs) // num_shards
    hi = (shard + 1) * len(jobs) // num_shards
    return list(jobs[lo:hi])


def resolve_workers(value: Any, n_episodes: int) -> int:
    """``eval.workers``: null = the cores this process may use; capped by the episode count."""
    from experiments.config_checks import ConfigError  # start-up time, as in select_episodes

    if value is None:
        value = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(not_allowed("eval.workers", value, "an integer >= 1 or null (all cores)"))
    return max(1, min(value, n_episodes))


def run_task_episodes(
    cfg: Any,
    suite: str,
    max_episode_steps: int,
    task: str,
    jobs: Sequence[EpisodeJob],
    init_states: Sequence[int],
    run_dir: Path,
    subscribers: Sequence[Subscriber],
) -> dict[str, Any]:
    """Play ``jobs`` (episodes of ``task``, increasing ``k``) on one env + actor; return the deployment."""
    # torch/robosuite load here, not at import: --help and the parent of the pool stay light
    from hydra.utils import instantiate

    import envs
    from experiments.compose_actor import wrap_actor
    from experiments.rollout import budget_from_config, run_episode

    budget = budget_from_config(cfg.eval, max_episode_steps, cfg.runtime.get("control_hz") or 20.0)
    env = envs.make_env(
        suite,
        task,
        image_size=cfg.env.image_size,
        perturbation=cfg.env.perturbation,
        render=cfg.env.render,
        # the env's step counter also sees the no-op wait steps, which do not count
        max_episode_steps=(budget.world_cap_steps or max_episode_steps) + cfg.eval.num_wait_steps,
    )
    actor, deployment, close_runtime = wrap_actor(cfg, instantiate(cfg.policy))
    try:
        done = 0  # episodes of this task the actor has been reset for
        for job in jobs:
            for skipped in range(done, job.k):  # replay the resets of episodes run elsewhere
                env.reset(seed=cfg.seed + skipped, options={"init_state": init_states[skipped]})
                actor.reset(env)
            video = None
            # env.render=false asks for no rendering at all (e.g. no GL here): no video either.
            if cfg.eval.video and cfg.env.render and job.index < cfg.eval.video_episodes:
                video = run_dir / "videos" / f"{suite}-{task}-init{job.init_state}.mp4"
            run_episode(
                env,
                actor,
                suite=suite,
                task=task,
                init_state=job.init_state,
                seed=cfg.seed + job.k,
                num_wait_steps=cfg.eval.num_wait_steps,
                video_path=video,
                video_size=cfg.eval.get("video_size", 128),
                subscribers=subscribers,
                index=job.index,
                budget=budget,
            )
            done = job.k + 1
    finally:
        close_runtime()
        env.close()
    return deployment


def run_sequential(
    cfg: Any,
    suite: str,
    max_episode_steps: int,
    jobs: Sequence[EpisodeJob],
    init_states: Sequence[int],
    run_dir: Path,
    subscribers: Sequence[Subscriber],
    on_episode: Callable[[EpisodeJob, EpisodeRecord], None],
) -> dict[str, Any]:
    """The in-process path (``eval.workers=1``): one env + actor per task, episodes in order."""
    deployment: dict[str, Any] = {}
    for task, task_jobs in _by_task(jobs):
        notify = _Notify(task_jobs, on_episode)
        deployment = run_task_episodes(
            cfg, suite, max_episode_steps, task, task_jobs, init_states, run_dir,
            [*subscribers, notify],
        )  # fmt: skip
    return deployment


def run_parallel(
    cfg: Any,
    suite: str,
    max_episode_steps: int,
    jobs: Sequence[EpisodeJob],
    init_states: Sequence[int],
    run_dir: Path,
    subscribers: Sequence[Subscriber],
    on_episode: Callable[[EpisodeJob, EpisodeRecord], None],
    workers: int,
) -> dict[str, Any]:
    """``workers`` spawned processes play chunks of episodes; the parent publishes in index order.

    The parent replays each episode's ``EpisodeStart`` and ``EpisodeRecord`` (plain dataclasses,
    through a multiprocessing queue between our own processes) to ``subscribers`` in the run's
    episode order, so episodes.jsonl and the logger read as the sequential run's.
    """
    from omegaconf import OmegaConf  # already loaded by the main job; kept out of worker imports

    container = OmegaConf.to_container(cfg, resolve=True)
    chunks = _chunks(jobs, workers)
    ctx = mp.get_context("spawn")  # no fork of a process that holds torch / MuJoCo state
    tasks_q = ctx.Queue()
    results_q = ctx.Queue()
    for i, chunk in enumerate(chunks):
        tasks_q.put((i, chunk))
    for _ in range(workers):
        tasks_q.put(None)
    procs = []
    with _thread_env():  # spawned children inherit os.environ as it is at start()
        for _ in range(workers):
            p = ctx.Process(
                target=_worker,
                args=(container, suite, max_episode_steps, list(init_states), str(run_dir),
                      tasks_q, results_q),
                daemon=True,
            )  # fmt: skip
            p.start()
            procs.append(p)
    by_index = {job.index: job for job in jobs}
    pending: dict[int, tuple[EpisodeStart, EpisodeRecord]] = {}
    order = [job.index for job in jobs]
    next_pos = 0
    deployments: dict[int, dict[str, Any]] = {}
    publish = [*subscribers]
    try:
        while len(deployments) < len(chunks):
            try:
                msg = results_q.get(timeout=5.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise ParallelEvalError(
                        f"eval worker pid {dead[0].pid} exited with code {dead[0].exitcode}"
                    ) from None
                continue
            kind = msg[0]
            if kind == "error":
                raise ParallelEvalError(f"eval worker failed:\n{msg[1]}")
            if kind == "episode":
                _, start, record = msg
                pending[start.index] = (start, record)
            elif kind == "done":
                deployments[msg[1]] = msg[2]
            while next_pos < len(order) and order[next_pos] in pending:
                start, record = pending.pop(order[next_pos])
                for s in publish:
                    s.on_episode_start(start)
                for s in publish:
                    s.on_episode_end(record)
                on_episode(by_index[start.index], record)
                next_pos += 1
    finally:
        for p in procs:
            if p.is_alive() and len(deployments) < len(chunks):
                p.terminate()
        for p in procs:
            p.join(timeout=10.0)
    # results.json's deployment: the last task's, as the sequential run reports it
    return deployments[len(chunks) - 1]


def _chunks(jobs: Sequence[EpisodeJob], workers: int) -> list[list[EpisodeJob]]:
    """Split each task's episodes into contiguous chunks so ``workers`` processes stay busy.

    Few chunks per task: every chunk builds an env + actor and replays the resets before it.
    """
    groups = list(_by_task(jobs))
    per_task = max(1, math.ceil(workers / len(groups)))
    chunks = []
    for _, task_jobs in groups:
        n = min(per_task, len(task_jobs))
        for c in range(n):
            lo, hi = c * len(task_jobs) // n, (c + 1) * len(task_jobs) // n
            chunks.append(list(task_jobs[lo:hi]))
    return chunks


def _by_task(jobs: Sequence[EpisodeJob]) -> Iterator[tuple[str, list[EpisodeJob]]]:
    current: list[EpisodeJob] = []
    for job in jobs:
        if current and job.task != current[0].task:
            yield current[0].task, current
            current = []
        current.append(job)
    if current:
        yield current[0].task, current


class _Notify(SubscriberBase):
    """Tells the main job (progress bar) when one of ``jobs`` has finished."""

    def __init__(self, jobs: Sequence[EpisodeJob], on_episode: Callable) -> None:
        self._jobs = {job.index: job for job in jobs}
        self._on_episode = on_episode
        self._index = -1

    def on_episode_start(self, start: EpisodeStart) -> None:
        self._index = start.index

    def on_episode_end(self, record: EpisodeRecord) -> None:
        self._on_episode(self._jobs[self._index], record)


class _Forward(SubscriberBase):
    """Worker side: sends each finished episode (start + record) to the parent."""

    def __init__(self, results_q: Any) -> None:
        self._q = results_q
        self._start: EpisodeStart | None = None

    def on_episode_start(self, start: EpisodeStart) -> None:
        self._start = start

    def on_episode_end(self, record: EpisodeRecord) -> None:
        self._q.put(("episode", self._start, record))


class _thread_env:
    """Sets the per-worker thread counts in os.environ while the workers start."""

    def __enter__(self) -> None:
        self._saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update({k: "1" for k in THREAD_ENV})

    def __exit__(self, *exc: object) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker(
    container: dict[str, Any],
    suite: str,
    max_episode_steps: int,
    init_states: list[int],
    run_dir: str,
    tasks_q: Any,
    results_q: Any,
) -> None:
    """A worker process: chunks from ``tasks_q`` until ``None``; episodes to ``results_q``."""
    try:
        import torch  # after the thread env vars are set (inherited at spawn)
        from omegaconf import OmegaConf

        torch.set_num_threads(1)
        cfg = OmegaConf.create(container)
        forward = _Forward(results_q)
        while (item := tasks_q.get()) is not None:
            i, chunk = item
            deployment = run_task_episodes(
                cfg, suite, max_episode_steps, chunk[0].task, chunk, init_states,
                Path(run_dir), [forward],
            )  # fmt: skip
            results_q.put(("done", i, deployment))
    except BaseException:  # the parent turns it into ParallelEvalError with this traceback
        results_q.put(("error", traceback.format_exc()))
