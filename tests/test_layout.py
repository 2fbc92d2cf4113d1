"""The package's shape: imports run one way (no module imports a module that imports it back, lazy imports
included), the course (``facekit``) never imports the tooling (``facekit_tools``), the top level holds only
infrastructure and subpackages, ``data`` never imports ``synth``, and the notebooks import only from ``facekit`` and
its public subpackages."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "facekit"
TOOLS = ROOT / "facekit_tools"

#: The top level of facekit/: infrastructure modules and subpackages, nothing that belongs to one task.
TOP_LEVEL = {"__init__", "argtypes", "asset_wheels", "assets", "colab", "doctor", "io", "kit_formats", "paths",
             "plotting", "quick", "runtime",
             "throughput", "data", "emotion", "explain", "fau", "synth",
             # course infrastructure: the student checks and the live widgets
             "checks", "widgets",
             # the answers' wording, shared by every task: the rules over the numbers and the glossary
             "answer_rules", "glossary"}
#: Infrastructure modules and public subpackages a notebook may import from (``from facekit.<name> import ...``).
NOTEBOOK_IMPORTS = {"answer_rules", "assets", "checks", "colab", "data", "doctor", "emotion", "explain", "fau", "io",
                    "paths", "plotting", "runtime", "synth", "throughput", "widgets"}


def module_names(pkg: Path = PKG) -> dict[str, Path]:
    names = {}
    for path in pkg.rglob("*.py"):
        parts = path.relative_to(pkg.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """module -> the facekit modules it imports anywhere in its body (function-level imports included)."""
    mods = module_names(pkg)

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            for target in targets:
                if target.split(".")[0] == pkg.name and (dep := resolve(target)) and dep != name:
                    deps.add(dep)
        graph[name] = deps
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "modules that import each other (directly or around a circle): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_tooling_has_no_import_cycles():
    cycles = find_cycles(import_graph(TOOLS))
    assert not cycles, "tooling modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def course_imports_of_tooling(pkg: Path = PKG) -> list[str]:
    """``facekit`` modules that import ``facekit_tools`` anywhere (function-level imports included)."""
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.relative_to(pkg.parent)}:{node.lineno} imports {n}" for n in names
                    if n.split(".")[0] == TOOLS.name]
    return bad


def test_course_never_imports_the_tooling():
    bad = course_imports_of_tooling()
    assert not bad, "facekit/ teaches; facekit_tools/ serves the people around the course. Turn these around: " + \
        "; ".join(bad)


def test_tooling_check_sees_a_lazy_import(tmp_path):
    pkg = tmp_path / "facekit"
    pkg.mkdir()
    (pkg / "io.py").write_text("def f():\n    from facekit_tools.handin import report\n")
    assert course_imports_of_tooling(pkg) == ["facekit/io.py:2 imports facekit_tools.handin"]


def test_cycle_finder_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: a circle made of a function-level import and a relative import is found."""
    pkg = tmp_path / "facekit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from facekit.sub.b import g\n")
    (pkg / "sub" / "b.py").write_text("from . import a\n")
    (pkg / "sub" / "c.py").write_text("from facekit.sub import a\n")
    assert find_cycles(import_graph(pkg)) == [["facekit.sub.a", "facekit.sub.b"]]


def test_top_level_is_infrastructure_and_subpackages():
    found = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").is_file())}
    assert found - TOP_LEVEL == set(), f"move these into their task's subpackage: {sorted(found - TOP_LEVEL)}"


@pytest.mark.parametrize("lower,upper", [("facekit.data", "facekit.synth"), ("facekit.synth", "facekit.emotion"),
                                         ("facekit.synth", "facekit.fau"), ("facekit.emotion", "facekit.fau"),
                                         ("facekit.data", "facekit.emotion")])
def test_imports_run_one_way(lower, upper):
    bad = sorted(f"{m} -> {d}" for m, deps in import_graph().items() if m == lower or m.startswith(lower + ".")
                 for d in deps if d == upper or d.startswith(upper + "."))
    assert not bad, f"{lower} must not import {upper}: {bad}"


def notebook_imports() -> list[tuple[str, str]]:
    found = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            for line in "".join(cell["source"]).splitlines():
                m = re.match(r"\s*(?:from\s+(facekit[\w.]*)\s+import|import\s+(facekit[\w.]*))", line)
                if m:
                    found.append((nb.name, m.group(1) or m.group(2)))
    return found


def test_notebooks_import_only_public_subpackages():
    imports = notebook_imports()
    assert len(imports) > 20
    bad = [(nb, mod) for nb, mod in imports
           if mod != "facekit" and (mod.count(".") != 1 or mod.split(".")[1] not in NOTEBOOK_IMPORTS)]
    assert not bad, f"notebooks reaching into private modules (use facekit.<subpackage>): {bad}"


def test_public_names_the_notebooks_use_are_importable():
    import importlib

    for nb, mod in notebook_imports():
        importlib.import_module(mod)


def test_every_notebook_parameter_has_a_type():
    """``papermill --help-notebook`` prints each parameter's type (an annotation in the parameters cell)."""
    import papermill as pm

    untyped = [(nb.name, name) for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
               for name, p in pm.inspect_notebook(str(nb)).items() if p["inferred_type_name"] in ("None", "", None)]
    assert not untyped, f"parameters without a type annotation: {untyped}"


@pytest.mark.parametrize("pkg", [PKG, TOOLS], ids=lambda p: p.name)
def test_readme_layout_names_every_module_and_subpackage(pkg):
    """The README's layout block is the newcomer's map: every top-level module and subpackage is on it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## Layout"):]
    block = block[: block.index("\n```", block.index("```") + 3)]
    names = {p.stem if p.is_file() else p.name for p in pkg.iterdir()
             if (p.suffix == ".py" and p.stem not in ("__init__", "__main__")) or (p / "__init__.py").is_file()}
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", block))
    assert not missing, f"README.md's Layout does not mention {pkg.name}/{missing}"
