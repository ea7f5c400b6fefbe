"""vecc-table: the paper tables as one Hydra app (``table=<option>``; options in conf/table/).

    python -m experiments.table                   # lists the tables
    python -m experiments.table table=roboecc budget=quick
    python -m experiments.table -m table=roboecc,dyq budget=quick

The pattern (kinds, budgets, presets, entries): experiments/apps.py.
"""

from experiments.apps import make_main

main = make_main("table")

if __name__ == "__main__":
    main()
