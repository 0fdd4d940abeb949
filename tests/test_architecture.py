"""The package's shape: imports flow one way (docs/architecture.md).

Every import statement of every module counts, function-local ones included (a cycle
hidden in a function is still a cycle); imports under ``if TYPE_CHECKING:`` do not (they
never run). Importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` first, so it
counts as importing those packages too, except the importer's own packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_gan"

#: The layers, lowest first: a module may import from its own layer and the ones below.
#: The engine never reaches up into the plugin, and nothing inside reads the package's
#: ``__init__`` (its lazy public exports).
PLUGIN_LAYER = {
    "pytest_gan.plugin",
    "pytest_gan.smoke",
    "pytest_gan.session",
    "pytest_gan.baseline_fixture",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per module: the modules it imports (with the packages that importing them runs),
    and the names it imports from the package's ``__init__`` itself."""
    modules = _modules()

    def resolve(dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts:
            if ".".join(parts) in modules:
                return ".".join(parts)
            parts.pop()
        return None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    from_init: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        own = _ancestors(name) | ({name} if path.name == "__init__.py" else set())
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
                    for _ in range(node.level - 1):
                        package = package.rsplit(".", 1)[0]
                    base = f"{package}.{base}" if base else package
                for alias in node.names:
                    target = resolve(f"{base}.{alias.name}") or resolve(base)
                    if target == "pytest_gan" and f"pytest_gan.{alias.name}" not in modules:
                        from_init[name].add(alias.name)
                    if target is not None:
                        targets.append(target)
            elif isinstance(node, ast.Import):
                targets += [t for a in node.names if (t := resolve(a.name)) is not None]
            for target in targets:
                for module in {target} | _ancestors(target):
                    if module != name and module not in own and module in graph:
                        graph[name].add(module)
    return graph, from_init


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph, _ = _imports()
    assert len(graph) > 40  # every module was read
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The finder itself, on a planted cycle: a test that could never fail proves nothing.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_nothing_inside_reads_the_package_init() -> None:
    _, from_init = _imports()
    assert {m: names for m, names in from_init.items() if names and m != "pytest_gan"} == {}


@pytest.mark.parametrize(
    "engine",
    [
        "pytest_gan.spec",
        "pytest_gan.instrument",
        "pytest_gan.history",
        "pytest_gan.probing",
        "pytest_gan.run",
        "pytest_gan.training",
        "pytest_gan.deciding",
        "pytest_gan.watching",
        "pytest_gan.watched_run",
        "pytest_gan.loss_trace",
        "pytest_gan.baseline.store",
        "pytest_gan.checks.outputs",
    ],
)
def test_the_engine_never_imports_the_plugin_layer(engine: str) -> None:
    graph, _ = _imports()
    seen: set[str] = set()
    todo = [engine]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph[module]
    assert {m for m in seen if m in PLUGIN_LAYER or m.startswith("pytest_gan.smoke.")} == set()


def test_one_loss_registry_covers_every_loss_a_spec_accepts() -> None:
    from pytest_gan import _defaults
    from pytest_gan.losses import CLASSIFIER, CRITIC, LOSSES, MARGIN

    assert tuple(LOSSES) == _defaults.LOSSES
    assert {name: loss.kind for name, loss in LOSSES.items()} == {
        "bce": CLASSIFIER,
        "hinge": MARGIN,
        "wgan-gp": CRITIC,
        "lsgan": CLASSIFIER,
    }
    # Only the critic loss is trained with a penalty and has no fixed boundary.
    assert [n for n, loss in LOSSES.items() if loss.gradient_penalty] == ["wgan-gp"]
    assert [n for n, loss in LOSSES.items() if loss.threshold is None] == ["wgan-gp"]


def test_every_threshold_says_why_in_one_line_and_points_to_its_calibration() -> None:
    # The thresholds of docs/benchmarks.md "Every threshold, in one line": each comment
    # keeps one "Why here:" and a pointer to "Calibration notes", where the history is.
    doc = (PACKAGE.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    table = doc.split("### Every threshold, in one line", 1)[1].split("\n### ", 1)[0]
    names = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert len(names) >= 19
    notes = doc.split("### Calibration notes", 1)[1].split("\n### ", 1)[0]
    sources = {p: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    for name in names:
        found = [
            text.split(f"\n{name} = ", 1)[0].rsplit("\n\n", 1)[-1]
            for text in sources.values()
            if f"\n{name} = " in text
        ]
        assert len(found) == 1, name
        lines = found[0].splitlines()
        comment = " ".join(line.removeprefix("#:").strip() for line in lines)
        assert comment.count("Why here:") == 1, name
        assert 'docs/benchmarks.md "Calibration notes"' in comment, name
        assert len(lines) <= 8, name
        assert f"**`{name} = " in notes, name


def test_one_registry_of_checks_drives_exports_pitfalls_and_smoke_items() -> None:
    import pytest_gan
    from pytest_gan.checks import ALL, BY_PITFALL
    from pytest_gan.pitfalls import PITFALLS

    ids = [c.id for c in ALL]
    assert len(set(ids)) == len(ids) == 15
    # Every check is exported as its function, and nothing else named assert_* is but the
    # baseline check, which sits above the engine.
    exported = {n for n in pytest_gan.__all__ if n.startswith("assert_")}
    assert exported == {c.name for c in ALL} | {"assert_matches_baseline"}
    assert all(getattr(pytest_gan, c.name) is c.function for c in ALL)
    # Every pitfall but the baseline's is diagnosed by exactly one check, and the catalog
    # names that check.
    assert sorted(BY_PITFALL) == sorted(set(PITFALLS) - {"baseline-regression"})
    assert sum(len(c.pitfalls) for c in ALL) == len(BY_PITFALL)
    assert all(PITFALLS[p].check == c.name for p, c in BY_PITFALL.items())
    # ... and the torch-free list of ids the pytest-xdist controller schedules and
    # tabulates by.
    from pytest_gan.smoke import CHECK_IDS

    assert CHECK_IDS == tuple(ids)


def test_no_check_is_looked_up_by_its_name() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "getattr(pytest_gan," not in text and "getattr(pg," not in text, path


#: docs/architecture.md "The flow": each module imports only from its own layer and the
#: ones listed before it.
LAYERS = (
    (
        "_defaults _args _files _images _version _profile errors pitfalls rng devices "
        "threads metrics losses"
    ),
    "spec data strategies",
    "history instrument probing limits run",
    "checks deciding",
    "training loss_trace watched_run watching lightning",
    "baseline",
    "report smoke session plugin baseline_fixture",
)


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the package's __init__: the lazy exports, above everything
    top = parts[1]
    for i, names in enumerate(LAYERS):
        if top in names.split():
            return i
    raise AssertionError(f"{module} is in no layer of docs/architecture.md")


def test_imports_follow_the_layers_of_the_architecture_page() -> None:
    graph, _ = _imports()
    upward = [(m, t) for m, targets in graph.items() for t in targets if _layer(t) > _layer(m)]
    assert upward == []
