"""initlab's layers, written once and enforced: every import (lazy ones inside functions included)
points down, siblings do not import each other, no ``_private`` name crosses a module boundary, and
torch's private helpers are used in one place only.

The order (docs/CONTRACTS.md): formats (torch-free, bottom) ← gaussian ← activations ← init ←
structure ← initialize, models ← probes | theory ← diagnosis ← data, train ← experiments ← sweep ←
report ← integrations, playground ← cli. The package facade (``initlab/__init__.py``) and
``__main__`` sit above everything.
"""
from __future__ import annotations

import ast
from pathlib import Path

import initlab

PKG = Path(initlab.__file__).resolve().parent

# floor of each top-level unit of the package (a module or a subpackage), bottom first; units on one
# floor are siblings and may not import each other. Places of packages still to come are kept so the
# work that adds them lands on the right floor.
LAYERS: list[tuple[str, ...]] = [
    ("formats", "validate", "progress"),
    ("gaussian",),
    ("activations",),
    ("init",),
    ("structure",),
    ("initialize", "models"),
    ("probes", "theory"),
    ("diagnosis",),
    ("data", "train"),
    ("experiments",),
    ("sweep",),
    ("report",),
    ("integrations", "playground"),
    ("cli",),
]
FLOOR = {unit: i for i, units in enumerate(LAYERS) for unit in units}
TOP = {"__init__", "__main__"}  # the facade: may import anything
USES_FACADE = {"cli"}  # the command line (the top floor) may read the facade (initlab.__version__)
# within a floor, pairs that may import each other in one direction (lower unit first)
WITHIN = {("data", "train"), ("initialize", "models")}  # models(init=...) calls initialize
TORCH_FREE = {"formats", "validate", "progress"}


def _unit(module: str) -> str | None:
    """``initlab.probes.hooks`` → ``probes``; None for modules outside initlab."""
    parts = module.split(".")
    if parts[0] != "initlab":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != "initlab":
        return False
    base = PKG.joinpath(*parts[1:])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[int, str, list[str], str | None]]:
    """(line, absolute module, imported names, the name a module import binds) for every import
    statement in ``path``, lazy ones too."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, [], a.asname or a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            subs = [a for a in node.names if _is_module(f"{target}.{a.name}")]
            # `from . import x` / `from initlab import probes`: a name that is a submodule is imported
            out += [(node.lineno, f"{target}.{a.name}", [], a.asname or a.name) for a in subs]
            rest = [n for n in names if n not in {a.name for a in subs}]
            if rest:
                out.append((node.lineno, target, rest, None))
    return out


FILES = sorted(p for p in PKG.rglob("*.py"))


def _unit_of_file(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def test_every_unit_has_a_floor():
    units = {_unit_of_file(p) for p in FILES} - TOP
    assert units <= set(FLOOR), f"put these in LAYERS (and docs/CONTRACTS.md): {sorted(units - set(FLOOR))}"


def _violations(files: list[Path] = FILES) -> list[str]:
    bad = []
    for path in files:
        here = _unit_of_file(path)
        if here in TOP:
            continue
        for line, target, _, _ in _imports(path):
            there = _unit(target)
            if there is None or there == here:
                if there is None and here in TORCH_FREE and target.split(".")[0] == "torch":
                    bad.append(f"{path.relative_to(PKG)}:{line} imports {target} (formats is torch-free)")
                continue
            if there in TOP and here not in USES_FACADE:
                bad.append(f"{path.relative_to(PKG)}:{line} imports the facade ({target})")
                continue
            if there in TOP:
                continue
            if there not in FLOOR:
                bad.append(f"{path.relative_to(PKG)}:{line} imports {target}, which has no floor")
                continue
            if FLOOR[there] > FLOOR[here] or (FLOOR[there] == FLOOR[here] and (there, here) not in WITHIN):
                bad.append(f"{path.relative_to(PKG)}:{line}: {here} (floor {FLOOR[here]}) imports "
                           f"{target} ({there}, floor {FLOOR[there]})")
    return bad


def test_imports_point_down():
    assert _violations() == []


def test_the_check_sees_an_upward_import():
    # the scan must catch a lazy upward import and a sibling import (guards against a check that passes
    # because it reads nothing)
    probe = PKG / "probes" / "_layer_check_tmp.py"
    probe.write_text("from .. import init as _init\nfrom .hooks import _EXCLUSIVE\n\n\n"
                     "def f():\n    from initlab.report import to_html\n    from ..theory import maps\n"
                     "    return _init._check\n")
    try:
        bad = _violations([probe])
        private = _private_attributes(probe)
        private_names = [t for _, t, names, _ in _imports(probe) if any(n.startswith("_") for n in names)]
    finally:
        probe.unlink()
    assert private == ["probes/_layer_check_tmp.py:8 _init._check"]
    assert private_names == ["initlab.probes.hooks"]
    assert any("report" in b and "_layer_check_tmp" in b for b in bad)
    assert any("theory" in b and "_layer_check_tmp" in b for b in bad)


def _private_attributes(path: Path) -> list[str]:
    """``alias._name`` where ``alias`` is an initlab module imported into ``path`` (``_init._MODES``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {bound: target for _, target, _, bound in _imports(path) if bound and _is_module(target)}
    mod = _module_name(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__"):
            if aliases[node.value.id] != mod:
                found.append(f"{path.relative_to(PKG)}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_private_name_crosses_modules():
    bad = []
    for path in FILES:
        bad += _private_attributes(path)
        mod = _module_name(path)
        for line, target, names, _ in _imports(path):
            if not target.startswith("initlab") or target == mod:
                continue
            private_mod = [p for p in target.split(".")[1:] if p.startswith("_") and not p.startswith("__")]
            private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private_mod or private_names:
                bad.append(f"{path.relative_to(PKG)}:{line} from {target} import {names}")
    assert bad == []


def _torch_privates(path: Path) -> set[str]:
    """Attribute chains like ``nn.modules.conv._ConvNd`` / ``nn.init._calculate_fan_in_and_fan_out``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            try:
                chain = ast.unparse(node)
            except Exception:  # pragma: no cover
                continue
            # torch._foreach_* are the documented multi-tensor ops (clip_grad_norm_ uses them), not helpers
            if chain.split(".")[0] in ("torch", "nn", "F") and not node.attr.startswith("_foreach_"):
                found.add(chain)
    return found


def test_torch_privates_live_in_one_place():
    where: dict[str, set[str]] = {}
    for path in FILES:
        for chain in _torch_privates(path):
            where.setdefault(chain.rsplit(".", 1)[-1], set()).add(str(path.relative_to(PKG)))
    spread = {name: sorted(files) for name, files in where.items() if len(files) > 1}
    assert spread == {}


def test_torch_free_units_import_no_torch():
    import subprocess
    import sys

    # the facade itself imports nothing heavy; the torch-free floor must not pull torch in
    imports = ", ".join(f"initlab.{u}" for u in sorted(TORCH_FREE))
    code = f"import sys, {imports}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
