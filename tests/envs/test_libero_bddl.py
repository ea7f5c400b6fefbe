"""The BDDL reader on LIBERO's own files and on malformed input."""

import os
from pathlib import Path

import numpy as np
import pytest

from envs.libero import bddl, files
from envs.libero.bddl import Atom, BddlError, parse_problem

WHEEL_BDDL = Path("/tmp/hf-libero/x/libero/libero/bddl_files")
LIBERO_90_ROOT = os.environ.get(files.ROOT_ENV) or (
    str(WHEEL_BDDL) if WHEEL_BDDL.is_dir() else None
)

MILK = "pick_up_the_milk_and_place_it_in_the_basket"


def _load(suite, task, root=None):
    return bddl.load_problem(files.bddl_path(suite, task, root))


@pytest.mark.parametrize("suite", files.VENDORED_SUITES)
def test_every_vendored_file_parses(suite):
    names = files.task_names(suite)
    assert len(names) == 10
    for t in names:
        p = _load(suite, t)
        assert p.language
        assert p.objects
        assert p.goal_atoms
        assert bddl.is_conjunction(p.goal)
        assert p.task_name == t


def test_libero_object_milk_file_contents():
    p = _load("libero_object", MILK)
    assert p.problem == "LIBERO_Floor_Manipulation"
    assert p.language == "Pick the milk and place it in the basket"
    assert p.benchmark_language == "pick up the milk and place it in the basket"
    assert [t for _, t in p.objects] == [
        "milk", "basket", "cream_cheese", "tomato_sauce", "butter", "orange_juice",
        "chocolate_pudding",
    ]  # fmt: skip
    assert p.fixtures == (("floor", "floor"),)
    assert p.obj_of_interest == ("milk_1", "basket_1")
    r = p.region("floor_target_object_region")
    assert r.ranges == ((-0.145, -0.265, -0.095, -0.215),)
    assert r.yaw_rotation is None
    assert p.goal_atoms == [Atom("In", ("milk_1", "basket_1_contain_region"), p.goal_atoms[0].line)]
    assert len(p.init) == 7
    assert all(a.head == "On" for a in p.init)


def test_yaw_case_and_compound_goals():
    sp = _load(
        "libero_spatial",
        "pick_up_the_black_bowl_in_the_top_drawer_of_the_wooden_cabinet_and_place_it_on_the_plate",
    )
    assert sp.region("main_table_cabinet_region").yaw_rotation == pytest.approx(
        (2.66137777, 2.72420962)
    )
    assert Atom("Open", ("wooden_cabinet_1_top_region",), 0) in [
        Atom(a.head, a.args, 0) for a in sp.init
    ]
    lib10 = _load(
        "libero_10", "KITCHEN_SCENE6_put_the_yellow_and_white_mug_in_the_microwave_and_close_it"
    )
    assert [a.head for a in lib10.goal_atoms] == ["In", "Close"]
    assert lib10.benchmark_language == "put the yellow and white mug in the microwave and close it"
    stove = _load("libero_goal", "turn_on_the_stove")
    assert stove.goal_atoms[0].head == "TurnOn"  # written "Turnon" in LIBERO's file
    # LIBERO's goal scenes declare regions on an undeclared bowl_drainer_1; kept, unusable
    assert "bowl_drainer_1_right_region" in stove.dangling_regions


def test_task_order_is_liberos():
    assert (
        files.task_names("libero_object")[0]
        == "pick_up_the_alphabet_soup_and_place_it_in_the_basket"
    )
    assert files.task_names("libero_goal")[0] == "open_the_middle_drawer_of_the_cabinet"


@pytest.mark.skipif(LIBERO_90_ROOT is None, reason="needs LIBERO's bddl_files ($LIBERO_BDDL_ROOT)")
def test_libero_90_parses():
    names = files.task_names("libero_90", LIBERO_90_ROOT)
    assert len(names) == 90
    parsed = [_load("libero_90", t, LIBERO_90_ROOT) for t in names]
    assert sum(1 for p in parsed if bddl.is_conjunction(p.goal)) == 90


def test_libero_90_needs_a_root():
    if os.environ.get(files.ROOT_ENV):
        pytest.skip("a root is configured")
    with pytest.raises(ValueError, match="LIBERO_BDDL_ROOT"):
        files.task_names("libero_90")


GOOD = """(define (problem P)
  (:domain robosuite)
  (:language pick the milk)
  (:regions
    (r (:target floor) (:ranges ((0 0 0.1 0.1))) (:yaw_rotation ((0 1))))
  )
  (:fixtures floor - floor)
  (:objects milk_1 - milk basket_1 - basket)
  (:obj_of_interest milk_1)
  (:init (On milk_1 floor_r))
  (:goal (And (In milk_1 basket_1) (Not (Open basket_1))))
)
"""


def test_good_minimal_problem():
    p = parse_problem(GOOD, "good.bddl")
    assert p.region("floor_r").yaw_rotation == (0.0, 1.0)
    assert str(p.goal) == "(And (In milk_1 basket_1) (Not (Open basket_1)))"
    assert not bddl.is_conjunction(p.goal)
    assert [a.head for a in p.goal_atoms] == ["In", "Open"]


BAD = [
    ("", 1, "empty file"),
    (GOOD.replace("(:goal", "(:goal (", 1), 1, "never closed"),
    (GOOD + ")", 13, "unbalanced"),
    (GOOD + "(x)", 13, "after the end"),
    (GOOD.replace("(:domain robosuite)", "(:colour red)"), 2, "unknown section ':colour'"),
    (GOOD.replace("(On milk_1", "(Onn milk_1"), 10, "unknown predicate 'Onn'"),
    (GOOD.replace("(On milk_1 floor_r)", "(On milk_1)"), 10, "On takes 2"),
    (GOOD.replace("0.1 0.1", "0.1 abc"), 5, "'abc' is not a number"),
    (GOOD.replace("0.1 0.1", "0.1 nan"), 5, "not finite"),
    (GOOD.replace("((0 0 0.1 0.1))", "((0.2 0 0.1 0.1))"), 5, "max < min"),
    (GOOD.replace("((0 0 0.1 0.1))", "((0 0 0.1))"), 5, "expected 4 numbers"),
    (GOOD.replace("((0 1))", "((1 0))"), 5, "reversed"),
    (GOOD.replace("(:target floor)", "(:colour floor)"), 5, "unknown attribute ':colour'"),
    (GOOD.replace("(:target floor) ", ""), 5, "missing (:target"),
    (GOOD.replace("(On milk_1 floor_r)", "(On cheese_1 floor_r)"), 10, "'cheese_1'"),
    (GOOD.replace("(:obj_of_interest milk_1)", "(:obj_of_interest ham_1)"), 9, "ham_1"),
    (GOOD.replace("basket_1 - basket)", "basket_1)"), 8, "no '- type'"),
    (GOOD.replace("basket_1 - basket)", "milk_1 - basket)"), 8, "declared twice"),
    (
        GOOD.replace("  (:goal (And (In milk_1 basket_1) (Not (Open basket_1))))\n", ""),
        1,
        "missing section :goal",
    ),
    (
        GOOD.replace("(Not (Open basket_1))", "(Not (Open basket_1) (Open basket_1))"),
        11,
        "Not got 2",
    ),
    (GOOD.replace("(define", "(definе"), 1, "expected '(define"),
    (GOOD.replace("(problem P)", "(problem)"), 1, "(problem NAME)"),
    (
        GOOD.replace("(:init (On milk_1 floor_r))", "(:init (And (On milk_1 floor_r)))"),
        10,
        "atoms only",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD)
def test_bad_input_names_file_and_line(text, line, fragment):
    with pytest.raises(BddlError) as e:
        parse_problem(text, "bad.bddl")
    assert e.value.path == "bad.bddl"
    assert e.value.line == line, str(e.value)
    assert fragment in str(e.value)
    assert str(e.value).startswith(f"bad.bddl:{line}: ")


def test_not_utf8_is_a_bddl_error(tmp_path):
    f = tmp_path / "x.bddl"
    f.write_bytes(b"(define \xff\xfe)")
    with pytest.raises(BddlError, match="not UTF-8"):
        bddl.load_problem(f)


def test_fuzzed_files_parse_or_raise_bddl_error():
    """Random token deletions / duplications / swaps on a real file: never another exception."""
    text = files.bddl_path("libero_object", MILK).read_text()
    tokens = bddl.tokenize(text)
    rng = np.random.default_rng(0)
    n_lines = text.count("\n") + 1
    outcomes = {"ok": 0, "error": 0}
    bad_lines: list[int] = []
    for _ in range(300):
        words = [t.text for t in tokens]
        lines = [t.line for t in tokens]
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(words)))
            op = rng.integers(3)
            if op == 0:
                del words[i], lines[i]
            elif op == 1:
                words.insert(i, words[i])
                lines.insert(i, lines[i])
            else:
                j = int(rng.integers(len(words)))
                words[i], words[j] = words[j], words[i]
        # rebuild with the original line structure so reported lines stay meaningful
        rows: dict[int, list[str]] = {}
        for w, ln in zip(words, lines, strict=True):
            rows.setdefault(ln, []).append(w)
        mutated = "\n".join(" ".join(rows.get(k, [])) for k in range(1, n_lines + 1))
        try:
            parse_problem(mutated, "fuzz.bddl")
            outcomes["ok"] += 1
        except BddlError as e:
            bad_lines.append(e.line)
            outcomes["error"] += 1
    assert outcomes["error"] > 200  # most mutations break the file and are reported
    assert all(1 <= ln <= n_lines for ln in bad_lines)
