"""vecc-bench: benchmarks as one Hydra app (``bench=<option>``; options in conf/bench/).

    python -m experiments.bench                      # lists the options
    python -m experiments.bench bench=<option> [budget=quick] [field=value ...]

The pattern (kinds, budgets, presets, entries): experiments/apps.py.
"""

from experiments.apps import make_main

main = make_main("bench")

if __name__ == "__main__":
    main()
