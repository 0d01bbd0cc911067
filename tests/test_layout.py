"""The package's layers (README, "Package layout"): data flows one way, so no module imports from a layer above its
own. Read from the source with `ast` (module-level and function-level relative imports alike), not from
`sys.modules`, so that a lazy import inside a function counts too."""

import ast
import pathlib
import sys

import pytest

import jaxengine

ROOT = pathlib.Path(jaxengine.__file__).parent

# lower numbers are lower layers; a module may import its own layer and the ones below
LAYERS = {
    "_checks": 0,
    "_compile": 0,
    "_linalg": 0,  # pure numerics: imports no physics at all (checked below)
    "_models": 1,
    "_generator": 2,
    "_solve": 3,
    "_observables": 4,
    "_scan": 5,
    "_optimise": 5,
    "_network_apps": 5,
    "reproduce": 5,
    "cli": 6,
}

# Deliberate exceptions, each with its reason. `evolve` returns `Observables` at every time: the observables of each
# state are computed in the same program as the propagation (one pass over the states), and it takes the steady
# state's observables for the t -> infinity limit.
ALLOWED = {("_solve.evolve", "_observables")}


def _layer(dotted: str):
    return LAYERS.get(dotted.split(".")[0])


def _imports():
    """(importing module, imported module, line) for every relative import inside the package."""
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        me = ".".join(p for p in parts if p != "__init__")
        package = parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield me, ".".join(base + node.module.split(".")), node.lineno
            else:  # `from .. import a, b`: each name is a module (or a name of the package's __init__)
                for alias in node.names:
                    yield me, ".".join(base + [alias.name]), node.lineno


def test_every_module_has_a_layer():
    for me, _, _ in _imports():
        if me:
            assert _layer(me) is not None, f"jaxengine.{me} belongs to no layer of the README's 'Package layout'"


def test_no_module_imports_from_a_layer_above_its_own():
    bad = []
    for me, target, line in _imports():
        mine, theirs = _layer(me), _layer(target)
        if not me or theirs is None or mine is None or theirs <= mine:
            continue
        if any(me == a and target.split(".")[0] == b for a, b in ALLOWED):
            continue
        bad.append(f"jaxengine.{me} (layer {mine}) imports jaxengine.{target} (layer {theirs}), line {line}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("sub", ["_linalg"])
def test_linear_algebra_knows_no_physics(sub):
    """`_linalg` imports nothing from the package beyond its own modules."""
    for me, target, line in _imports():
        if me.startswith(sub + "."):
            assert target.startswith(sub + "."), f"jaxengine.{me} imports jaxengine.{target} (line {line})"


def test_the_check_can_fail(tmp_path, monkeypatch):
    """The checker sees a lazy upward import inside a function (so the tests above are not vacuous)."""
    pkg = tmp_path / "jaxengine"
    (pkg / "_solve").mkdir(parents=True)
    (pkg / "_solve" / "x.py").write_text("def f():\n    from .._observables import y\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    found = [(me, t) for me, t, _ in _imports()]
    assert ("_solve.x", "_observables") in found
    with pytest.raises(AssertionError, match=r"jaxengine\._solve\.x \(layer 3\) imports jaxengine\._observables"):
        test_no_module_imports_from_a_layer_above_its_own()
