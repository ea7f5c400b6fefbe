#!/usr/bin/env bash
# Reproduce the committed tiny checkpoints (checkpoints/object/<family>_tiny):
# scripted-expert demos -> train each family -> evaluate on every task x the 50 fixed init
# states (LIBERO-style: the world waits) -> export with provenance and the measured success.
#
#   bash scripts/train_tiny_policies.sh                 # all four families
#   FAMILIES="pi0 openvla" bash scripts/train_tiny_policies.sh
#
# CPU cost on the 2-core development machine: see docs/agents.md ("Trained tiny policies").
# Step counts and learning rates: the runs measured on 2026-11-27 with the FiLM + keypoint towers
# and the keypoint auxiliary loss (docs/agents.md), 10000 steps each. pi0 (sessions 7, 9), cogact
# (sessions 8, 9) and oft (session 8): for each step count in EXTEND the same command is rerun with
# steps=<count> in the same out_dir, which resumes where the last one stopped with the cosine
# recomputed for <count> steps (a warm restart); that is how the committed 26000-step pi0,
# 20000-step cogact and 15000-step oft were made. pi0's last restart (to 26000) reads MORE_DEMOS
# as well: a second collection of the same 50 layouts with another seed (session 9).
set -euo pipefail
cd "$(dirname "$0")/.."

FAMILIES=${FAMILIES:-"pi0 openvla cogact oft"}
DEMOS=${DEMOS:-data/object_50.hdf5}
MORE_DEMOS=${MORE_DEMOS:-data/object_50_seed1.hdf5}
declare -A STEPS=([pi0]=10000 [openvla]=10000 [cogact]=10000 [oft]=10000)
declare -A LR=([pi0]=1e-3 [openvla]=1e-3 [cogact]=1e-3 [oft]=1e-3)
declare -A EXTEND=([pi0]="20000 26000" [cogact]="15000 20000" [oft]="15000")  # step counts, in order
declare -A WITH_MORE=([pi0]=26000)  # the restart from which MORE_DEMOS is read too
declare -A EXPORT=([pi0]=26000 [openvla]=10000 [cogact]=20000 [oft]=15000)  # checkpoint step committed
HALF_A="[milk_in_basket,bread_in_basket,can_in_basket,lemon_in_basket,bottle_in_basket]"
HALF_B="[butter_in_basket,pudding_in_basket,juice_in_basket,sauce_in_basket,soup_in_basket]"

if [ ! -f "$DEMOS" ]; then
  python -m experiments.tool tool=collect_demos suite=object n_per_task=50 out="$DEMOS" \
    image_size=64 noise=0.1 workers=2
fi
if [[ " $FAMILIES " == *" pi0 "* ]] && [ ! -f "$MORE_DEMOS" ]; then
  python -m experiments.tool tool=collect_demos suite=object n_per_task=50 out="$MORE_DEMOS" \
    image_size=64 noise=0.1 seed=1 workers=2
fi
for fam in $FAMILIES; do
  run=outputs/train/${fam}_tiny_object_film
  python -m experiments.train policy=${fam}_tiny demos="$DEMOS" steps=${STEPS[$fam]} \
    lr=${LR[$fam]} out_dir=$run progress=false num_threads=2
  note=()
  demos="$DEMOS"
  for steps in ${EXTEND[$fam]:-}; do
    if [ "$steps" = "${WITH_MORE[$fam]:-}" ]; then demos="[$DEMOS,$MORE_DEMOS]"; fi
    python -m experiments.train policy=${fam}_tiny "demos=$demos" steps=$steps \
      lr=${LR[$fam]} out_dir=$run progress=false num_threads=2
    note=("note='steps=${STEPS[$fam]}, then resumed to each of [${EXTEND[$fam]}] with the cosine recomputed (warm restarts)'")
  done
  ckpt=$run/checkpoints/step_$(printf %07d ${EXPORT[$fam]})
  python -m experiments.run -m hydra/launcher=joblib policy=${fam}_tiny policy.checkpoint=$ckpt \
    runtime=none logger=none eval.max_tasks=null eval.init_states=50 eval.progress=false \
    "env.tasks=$HALF_A,$HALF_B" hydra.sweep.dir=outputs/eval/${fam}_tiny_object_film_s${EXPORT[$fam]}
  python -m experiments.tool tool=export_policy src="$ckpt" dst=checkpoints/object/${fam}_tiny \
    eval=outputs/eval/${fam}_tiny_object_film_s${EXPORT[$fam]} "${note[@]}"
done
