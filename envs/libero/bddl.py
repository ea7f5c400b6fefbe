"""A reader for LIBERO's BDDL dialect: one ``(define (problem ...) ...)`` per file.

LIBERO's own parser (``libero.libero.envs.bddl_utils.robosuite_parse_problem``) lower-cases
every token, asserts on bad input and ``eval``s yaw values; this one keeps the source case
of the language, never evaluates text, and raises :class:`BddlError` naming the file and
line of the offending token. Region names follow LIBERO: a region declared as
``(top_region (:target wooden_cabinet_1))`` is referred to as ``wooden_cabinet_1_top_region``.

Units: region ranges are metres ``(x_min, y_min, x_max, y_max)`` in the frame of the
region's target (the table top or floor centre for workspace targets); yaw ranges are
radians about +z.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from envs.errors import TaskSpecError

#: canonical predicate name -> number of arguments (None: any). LIBERO matches names
#: case-insensitively (``Turnon`` in the files is ``TurnOn``).
PREDICATES: dict[str, int | None] = {
    "On": 2,
    "In": 2,
    "Up": 1,
    "Open": 1,
    "Close": 1,
    "TurnOn": 1,
    "TurnOff": 1,
    "True": None,
    "False": None,
    "PrintJointState": 1,
}
_CANONICAL = {k.lower(): k for k in PREDICATES}
#: logical connectives and their arity (None: one or more)
CONNECTIVES: dict[str, int | None] = {"And": None, "Or": None, "Not": 1}
_CONNECTIVE = {k.lower(): k for k in CONNECTIVES}
#: sections a problem may contain; LIBERO ignores ``:requirements`` and ``:scene_properties``
SECTIONS = (
    ":domain",
    ":requirements",
    ":language",
    ":regions",
    ":scene_properties",
    ":fixtures",
    ":objects",
    ":obj_of_interest",
    ":init",
    ":goal",
)
REQUIRED_SECTIONS = (":language", ":objects", ":init", ":goal")
REGION_ATTRIBUTES = (":target", ":ranges", ":yaw_rotation", ":rgba")


class BddlError(TaskSpecError):
    """Malformed BDDL: the message names the file, the line and what was expected."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class Token:
    text: str
    line: int


# A parsed s-expression: a Token or a list of them (with the line of its opening paren).
@dataclass
class SExpr:
    items: list[SExpr | Token]
    line: int


@dataclass(frozen=True)
class Region:
    """A placement / goal region. ``ranges`` are (x_min, y_min, x_max, y_max) in m."""

    name: str
    target: str
    ranges: tuple[tuple[float, float, float, float], ...] = ()
    yaw_rotation: tuple[float, float] | None = None
    rgba: tuple[float, float, float, float] | None = None
    line: int = 0

    @property
    def full_name(self) -> str:
        """How init/goal predicates refer to it (LIBERO: ``<target>_<name>``)."""
        return f"{self.target}_{self.name}"


@dataclass(frozen=True)
class Atom:
    """One predicate application, e.g. ``(On milk_1 floor_target_object_region)``."""

    head: str
    args: tuple[str, ...]
    line: int = 0

    def __str__(self) -> str:
        return "(" + " ".join((self.head, *self.args)) + ")"


@dataclass(frozen=True)
class Compound:
    """``(And ...)``, ``(Or ...)`` or ``(Not x)``."""

    op: str
    children: tuple[Atom | Compound, ...]
    line: int = 0

    def __str__(self) -> str:
        return "(" + " ".join((self.op, *(str(c) for c in self.children))) + ")"


Formula = Atom | Compound


def atoms(f: Formula) -> list[Atom]:
    """Every atom in a formula, in order."""
    if isinstance(f, Atom):
        return [f]
    out: list[Atom] = []
    for c in f.children:
        out.extend(atoms(c))
    return out


def is_conjunction(f: Formula) -> bool:
    """True when the formula is an atom or an ``And`` of atoms (all LIBERO goals are)."""
    return isinstance(f, Atom) or (f.op == "And" and all(isinstance(c, Atom) for c in f.children))


@dataclass(frozen=True)
class Problem:
    """A parsed BDDL problem. Objects and fixtures keep their declaration order (LIBERO's
    model and init-state layout follow it)."""

    path: str
    problem: str
    domain: str
    language: str
    regions: tuple[Region, ...]
    fixtures: tuple[tuple[str, str], ...]  # (name, type)
    objects: tuple[tuple[str, str], ...]  # (name, type)
    obj_of_interest: tuple[str, ...]
    init: tuple[Atom, ...]
    goal: Formula
    extra_sections: tuple[str, ...] = field(default=())
    #: regions whose target is not declared (kept, as LIBERO does; no predicate may use them)
    dangling_regions: tuple[str, ...] = field(default=())

    @property
    def task_name(self) -> str:
        return Path(self.path).stem

    @property
    def benchmark_language(self) -> str:
        """The instruction LIBERO's benchmark gives policies: derived from the file name
        (``KITCHEN_SCENE3_turn_on_the_stove`` -> ``turn on the stove``), not ``:language``."""
        name = self.task_name
        if name[:1].isupper() and "SCENE" in name:
            rest = name[name.find("SCENE") + len("SCENE") :]
            rest = rest.lstrip("0123456789")[1:]
            return " ".join(rest.split("_"))
        return " ".join(name.split("_"))

    def region(self, full_name: str) -> Region:
        for r in self.regions:
            if r.full_name == full_name:
                return r
        raise KeyError(full_name)

    def type_of(self, name: str) -> str:
        for n, t in (*self.objects, *self.fixtures):
            if n == name:
                return t
        raise KeyError(name)

    @property
    def goal_atoms(self) -> list[Atom]:
        return atoms(self.goal)


# --- tokenizer / reader -------------------------------------------------------------------
def tokenize(text: str, path: str = "<string>") -> list[Token]:
    """Split into ``(``, ``)`` and words, dropping ``;`` comments; each token keeps its line."""
    out: list[Token] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0]
        word = ""
        for ch in line:
            if ch in "()":
                if word:
                    out.append(Token(word, lineno))
                    word = ""
                out.append(Token(ch, lineno))
            elif ch.isspace():
                if word:
                    out.append(Token(word, lineno))
                    word = ""
            else:
                word += ch
        if word:
            out.append(Token(word, lineno))
    return out


def read_sexpr(text: str, path: str = "<string>") -> SExpr:
    """Read exactly one top-level s-expression."""
    tokens = tokenize(text, path)
    if not tokens:
        raise BddlError(path, 1, "empty file; expected '(define (problem NAME) ...)'")
    stack: list[SExpr] = []
    top: SExpr | None = None
    for tok in tokens:
        if tok.text == "(":
            node = SExpr([], tok.line)
            if stack:
                stack[-1].items.append(node)
            elif top is not None:
                raise BddlError(path, tok.line, "text after the end of the problem")
            else:
                top = node
            stack.append(node)
        elif tok.text == ")":
            if not stack:
                raise BddlError(path, tok.line, "unbalanced ')' with no matching '('")
            stack.pop()
        else:
            if not stack:
                raise BddlError(path, tok.line, f"token {tok.text!r} outside any '(...)'")
            stack[-1].items.append(tok)
    if stack:
        raise BddlError(
            path, stack[-1].line, f"'(' opened here is never closed ({len(stack)} open at EOF)"
        )
    assert top is not None
    return top


# --- helpers -----------------------------------------------------------------------------------
def _word(item: SExpr | Token, path: str, what: str) -> str:
    if not isinstance(item, Token):
        raise BddlError(path, item.line, f"expected {what}, got a '(...)' list")
    return item.text


def _line(item: SExpr | Token) -> int:
    return item.line


def _floats(node: SExpr | Token, n: int, path: str, what: str) -> tuple[float, ...]:
    if not isinstance(node, SExpr):
        raise BddlError(
            path, node.line, f"{what}: expected a list of {n} numbers, got {node.text!r}"
        )
    if len(node.items) != n:
        raise BddlError(path, node.line, f"{what}: expected {n} numbers, got {len(node.items)}")
    out = []
    for it in node.items:
        text = _word(it, path, f"a number in {what}")
        try:
            v = float(text)
        except ValueError:
            raise BddlError(path, it.line, f"{what}: {text!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise BddlError(path, it.line, f"{what}: {text!r} is not finite")
        out.append(v)
    return tuple(out)


def _typed_list(node: SExpr, path: str, section: str) -> tuple[tuple[str, str], ...]:
    """``a b - type c - type2`` -> ((a, type), (b, type), (c, type2))."""
    out: list[tuple[str, str]] = []
    pending: list[Token] = []
    items = node.items[1:]
    i = 0
    while i < len(items):
        it = items[i]
        text = _word(it, path, f"a name in {section}")
        if text == "-":
            if not pending:
                raise BddlError(path, it.line, f"{section}: '-' with no names before it")
            if i + 1 >= len(items):
                raise BddlError(path, it.line, f"{section}: '-' must be followed by a type")
            typ = _word(items[i + 1], path, f"a type in {section}")
            out.extend((p.text, typ) for p in pending)
            pending = []
            i += 2
            continue
        pending.append(it)  # type: ignore[arg-type]
        i += 1
    if pending:
        raise BddlError(
            path, pending[0].line, f"{section}: {pending[0].text!r} has no '- type' after it"
        )
    names = [n for n, _ in out]
    for n in names:
        if names.count(n) > 1:
            raise BddlError(path, node.line, f"{section}: {n!r} declared twice")
    return tuple(out)


def _region(node: SExpr | Token, path: str) -> Region:
    if not isinstance(node, SExpr) or not node.items:
        raise BddlError(path, _line(node), "a region must be '(name (:target T) ...)'")
    name = _word(node.items[0], path, "a region name")
    target: str | None = None
    ranges: list[tuple[float, float, float, float]] = []
    yaw: tuple[float, float] | None = None
    rgba: tuple[float, float, float, float] | None = None
    for attr in node.items[1:]:
        if not isinstance(attr, SExpr) or not attr.items:
            raise BddlError(path, _line(attr), f"region {name}: expected '(:attribute ...)'")
        key = _word(attr.items[0], path, "a region attribute")
        if key not in REGION_ATTRIBUTES:
            raise BddlError(
                path,
                attr.line,
                f"region {name}: unknown attribute {key!r}; allowed: {', '.join(REGION_ATTRIBUTES)}",
            )
        if len(attr.items) != 2:
            raise BddlError(path, attr.line, f"region {name}: {key} takes one value")
        value = attr.items[1]
        if key == ":target":
            target = _word(value, path, "a region target")
        elif key == ":ranges":
            if not isinstance(value, SExpr) or not value.items:
                raise BddlError(path, _line(value), f"region {name}: :ranges needs ((x0 y0 x1 y1))")
            for r in value.items:
                x0, y0, x1, y1 = _floats(r, 4, path, f"region {name} :ranges")
                if x1 < x0 or y1 < y0:
                    raise BddlError(
                        path, _line(r), f"region {name}: range {(x0, y0, x1, y1)} has max < min"
                    )
                ranges.append((x0, y0, x1, y1))
        elif key == ":yaw_rotation":
            if not isinstance(value, SExpr) or len(value.items) != 1:
                raise BddlError(path, _line(value), f"region {name}: :yaw_rotation needs ((lo hi))")
            lo, hi = _floats(value.items[0], 2, path, f"region {name} :yaw_rotation")
            if hi < lo:
                raise BddlError(
                    path, _line(value), f"region {name}: yaw range ({lo}, {hi}) reversed"
                )
            yaw = (lo, hi)
        else:
            rgba = _floats(value, 4, path, f"region {name} :rgba")  # type: ignore[assignment]
    if target is None:
        raise BddlError(path, node.line, f"region {name}: missing (:target ...)")
    return Region(name, target, tuple(ranges), yaw, rgba, node.line)


def _formula(node: SExpr | Token, path: str, where: str) -> Formula:
    if not isinstance(node, SExpr) or not node.items:
        raise BddlError(path, _line(node), f"{where}: expected '(Predicate args...)'")
    head = _word(node.items[0], path, f"a predicate name in {where}")
    low = head.lower()
    if low in _CONNECTIVE:
        op = _CONNECTIVE[low]
        kids = tuple(_formula(c, path, where) for c in node.items[1:])
        want = CONNECTIVES[op]
        if (want is None and not kids) or (want is not None and len(kids) != want):
            raise BddlError(path, node.line, f"{where}: {op} got {len(kids)} operands")
        return Compound(op, kids, node.line)
    if low not in _CANONICAL:
        allowed = ", ".join([*PREDICATES, *CONNECTIVES])
        raise BddlError(path, node.line, f"{where}: unknown predicate {head!r}; allowed: {allowed}")
    canon = _CANONICAL[low]
    args = tuple(_word(a, path, f"an argument of {canon}") for a in node.items[1:])
    want = PREDICATES[canon]
    if want is not None and len(args) != want:
        raise BddlError(path, node.line, f"{where}: {canon} takes {want} argument(s), got {args}")
    return Atom(canon, args, node.line)


def parse_problem(text: str, path: str = "<string>") -> Problem:
    """Parse the text of one BDDL problem file."""
    top = read_sexpr(text, path)
    items = top.items
    if not items or not isinstance(items[0], Token) or items[0].text.lower() != "define":
        raise BddlError(path, top.line, "expected '(define (problem NAME) ...)'")
    sections: dict[str, SExpr] = {}
    problem_name: str | None = None
    for node in items[1:]:
        if not isinstance(node, SExpr) or not node.items:
            raise BddlError(path, _line(node), "expected a '(:section ...)' inside define")
        key = _word(node.items[0], path, "a section name")
        if key.lower() == "problem":
            if len(node.items) != 2:
                raise BddlError(path, node.line, "expected '(problem NAME)'")
            problem_name = _word(node.items[1], path, "a problem name")
            continue
        if key not in SECTIONS:
            raise BddlError(
                path, node.line, f"unknown section {key!r}; allowed: problem, {', '.join(SECTIONS)}"
            )
        if key in sections:
            raise BddlError(path, node.line, f"section {key} given twice")
        sections[key] = node
    if problem_name is None:
        raise BddlError(path, top.line, "missing '(problem NAME)'")
    for key in REQUIRED_SECTIONS:
        if key not in sections:
            raise BddlError(path, top.line, f"missing section {key}")

    domain = "robosuite"
    if ":domain" in sections:
        d = sections[":domain"]
        if len(d.items) != 2:
            raise BddlError(path, d.line, "expected '(:domain NAME)'")
        domain = _word(d.items[1], path, "a domain name")
    lang_node = sections[":language"]
    words = [_word(w, path, "a word of :language") for w in lang_node.items[1:]]
    if not words:
        raise BddlError(path, lang_node.line, ":language is empty")
    regions: list[Region] = []
    if ":regions" in sections:
        regions = [_region(r, path) for r in sections[":regions"].items[1:]]
    full = [r.full_name for r in regions]
    for r in regions:
        if full.count(r.full_name) > 1:
            raise BddlError(path, r.line, f"region {r.full_name!r} declared twice")
    fixtures = (
        _typed_list(sections[":fixtures"], path, ":fixtures") if ":fixtures" in sections else ()
    )
    objects = _typed_list(sections[":objects"], path, ":objects")
    declared = {n for n, _ in (*fixtures, *objects)}
    both = declared & {n for n, _ in fixtures} & {n for n, _ in objects}
    if both:
        raise BddlError(
            path, sections[":objects"].line, f"{sorted(both)} are both fixture and object"
        )
    ooi: tuple[str, ...] = ()
    if ":obj_of_interest" in sections:
        node = sections[":obj_of_interest"]
        ooi = tuple(_word(w, path, "a name in :obj_of_interest") for w in node.items[1:])
        for w, it in zip(ooi, node.items[1:], strict=True):
            if w not in declared and w not in full:
                raise BddlError(path, it.line, f":obj_of_interest names undeclared {w!r}")
    init_node = sections[":init"]
    init = []
    for it in init_node.items[1:]:
        f = _formula(it, path, ":init")
        if not isinstance(f, Atom):
            raise BddlError(path, f.line, f":init holds atoms only, got {f.op}")
        init.append(f)
    goal_node = sections[":goal"]
    if len(goal_node.items) != 2:
        raise BddlError(path, goal_node.line, ":goal holds exactly one formula, e.g. (And ...)")
    goal = _formula(goal_node.items[1], path, ":goal")
    # LIBERO's goal files declare regions on an undeclared ``bowl_drainer_1``; LIBERO keeps
    # them (never used), so they are accepted here and listed in ``dangling_regions``
    dangling = tuple(r.full_name for r in regions if r.target not in declared)
    known = declared | (set(full) - set(dangling))
    for a in [*init, *atoms(goal)]:
        for arg in a.args:
            if arg not in known:
                raise BddlError(
                    path,
                    a.line,
                    f"{a.head} names {arg!r}: not a declared object, fixture or region",
                )
    extra = tuple(k for k in sections if k in (":requirements", ":scene_properties"))
    return Problem(
        path=path,
        problem=problem_name,
        domain=domain,
        language=" ".join(words),
        regions=tuple(regions),
        fixtures=fixtures,
        objects=objects,
        obj_of_interest=ooi,
        init=tuple(init),
        goal=goal,
        extra_sections=extra,
        dangling_regions=dangling,
    )


def load_problem(path: str | Path) -> Problem:
    """Read and parse one ``.bddl`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BddlError(str(p), 1, f"not UTF-8 text ({e.reason})") from None
    return parse_problem(text, str(p))
