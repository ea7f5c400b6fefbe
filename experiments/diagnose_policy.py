"""Where does a trained policy leave the demonstrations? Policy actions vs the expert's labels
along the policy's own closed-loop trajectory, per expert phase (DAgger-style relabelling).

    vecc-study study=diagnose_policy checkpoint=checkpoints/object/pi0_tiny \\
        tasks=[milk_in_basket,bread_in_basket] init_states=[0,1]

Fields: conf/study/diagnose_policy.yaml (the old flags map there: --init-states 0,1 -> init_states=[0,1]).

At every step the scripted expert (privileged state; it only labels here, the policy acts)
says what it would do from the state the policy reached and which phase of its plan that
state is in (its primitive: ``above``, ``descend``, ``close``, ``lift``, ...). Per phase the
table gives the steps spent there, the cosine between the policy's and the expert's
translation commands, how often their gripper commands agree in sign, and the L2 distance of
the translation commands (action units, [-1, 1] per axis). A policy that never finds its
object shows low cosine in ``above:*`` and most of its steps there; one that finds it but
grasps badly shows its steps piling up in ``descend``/``close``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

import envs
from agents.actor import PolicyActor
from core.provenance import provenance
from envs.experts import ScriptedExpert
from experiments.apps import as_args
from experiments.rollout import run_episode

log = logging.getLogger(__name__)


class ExpertShadow:
    """Wraps an actor: acts with it, and records the expert's label and phase at every step."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.expert = ScriptedExpert()
        self.rows: list[tuple[str, float, float, float]] = []  # phase, cos, grip agree, l2

    def reset(self, env: Any) -> None:
        self.actor.reset(env)
        self.expert.reset(getattr(env, "unwrapped", env))
        self.rows = []

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
        label = np.asarray(self.expert.act(obs), dtype=np.float64)
        phase = self.expert.phase.split(":")[0]
        action = np.asarray(self.actor.act(obs, info), dtype=np.float64)
        a, e = action[:3], label[:3]
        denom = float(np.linalg.norm(a) * np.linalg.norm(e))
        cos = float(a @ e / denom) if denom > 1e-9 else float("nan")
        grip = float(np.sign(action[6]) == np.sign(label[6]))
        self.rows.append((phase, cos, grip, float(np.linalg.norm(a - e))))
        return action.astype(np.float32)

    def episode_stats(self) -> dict[str, Any]:
        return {"expert_shadow": per_phase(self.rows)}


def per_phase(rows: Sequence[tuple[str, float, float, float]]) -> dict[str, dict[str, float]]:
    """Steps, mean translation cosine (NaN-skipping), gripper agreement and L2 per phase."""
    by: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for phase, cos, grip, l2 in rows:
        by[phase].append((cos, grip, l2))
    out = {}
    for phase, vals in by.items():
        arr = np.array(vals, dtype=np.float64)
        cos = arr[:, 0][~np.isnan(arr[:, 0])]
        out[phase] = {
            "steps": len(vals),
            "cos_xyz": float(cos.mean()) if len(cos) else float("nan"),
            "grip_agree": float(arr[:, 1].mean()),
            "l2_xyz": float(arr[:, 2].mean()),
        }
    return out


def pooled(episodes: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Step-weighted pooling of per-episode per-phase rows."""
    acc: dict[str, dict[str, float]] = {}
    for ep in episodes:
        for phase, r in ep.items():
            a = acc.setdefault(
                phase, {"steps": 0, "cos_xyz": 0.0, "grip_agree": 0.0, "l2_xyz": 0.0}
            )
            n = r["steps"]
            a["steps"] += n
            for k in ("cos_xyz", "grip_agree", "l2_xyz"):
                if not np.isnan(r[k]):
                    a[k] += r[k] * n
    return {
        p: {
            "steps": a["steps"],
            **{k: a[k] / a["steps"] for k in ("cos_xyz", "grip_agree", "l2_xyz")},
        }
        for p, a in acc.items()
    }


def diagnose(
    checkpoint: str,
    tasks: Sequence[str],
    init_states: Sequence[int],
    suite: str = "object",
    max_steps: int | None = None,
    num_wait_steps: int = 10,
) -> dict[str, Any]:
    """Run the policy with an expert shadow; returns per-episode and pooled per-phase figures."""
    actor = PolicyActor(checkpoint)
    size = actor.policy.shape.vision[0].image_size
    limit = max_steps or envs.episode_limit(suite)
    episodes = []
    for task in tasks:
        env = envs.make_env(suite, task, image_size=size, max_episode_steps=limit + num_wait_steps)
        try:
            for s in init_states:
                shadow = ExpertShadow(actor)
                rec = run_episode(
                    env, shadow, suite=suite, task=task, init_state=s, seed=s,
                    num_wait_steps=num_wait_steps,
                )  # fmt: skip
                episodes.append({
                    "task": task, "init_state": s, "success": rec.success, "steps": rec.steps,
                    "phases": rec.extra["expert_shadow"],
                })  # fmt: skip
                log.info("%s init %d: success=%s steps=%d", task, s, rec.success, rec.steps)
        finally:
            env.close()
    return {"episodes": episodes, "pooled": pooled([e["phases"] for e in episodes])}


def format_table(pooled_rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "| expert phase | steps | cos(xyz) | gripper agree | L2(xyz) |",
        "|---|---|---|---|---|",
    ]
    for phase, r in sorted(pooled_rows.items(), key=lambda kv: -kv[1]["steps"]):
        lines.append(
            f"| {phase} | {r['steps']} | {r['cos_xyz']:+.2f} | {r['grip_agree']:.2f} | "
            f"{r['l2_xyz']:.2f} |"
        )
    return "\n".join(lines)


def run(cfg: Any) -> None:
    """The study app's entry (conf/study/diagnose_policy.yaml): print the figures, JSON to ``out``."""
    args = as_args(cfg, paths=("out",))
    tasks = [args.tasks] if isinstance(args.tasks, str) else list(args.tasks)
    init_states = [args.init_states] if isinstance(args.init_states, int) else args.init_states
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = diagnose(
        args.checkpoint,
        tasks,
        [int(x) for x in init_states],
        args.suite,
        args.max_steps,
    )
    wins = sum(e["success"] for e in result["episodes"])
    print(f"{wins}/{len(result['episodes'])} episodes succeeded")
    print(format_table(result["pooled"]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                        "provenance": provenance(), **result}, indent=1))  # fmt: skip


if __name__ == "__main__":
    from experiments.apps import main_for

    main_for("study", "diagnose_policy")
