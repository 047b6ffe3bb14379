"""The layout's rules, checked: one error base, no import cycle in fer/, one reader of FER_*, CLI flags from TrainConfig."""
import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import fer
from fer.errors import FerError

ROOT = Path(__file__).resolve().parents[1]


def _fer_modules():
    return [m.name for m in pkgutil.walk_packages(fer.__path__, "fer.") if m.name != "fer.__main__"]


def test_every_error_class_in_fer_derives_from_the_one_base():
    found = set()
    for name in _fer_modules():
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if inspect.isclass(obj) and attr.endswith("Error") and obj.__module__.startswith("fer"):
                found.add(obj)
                assert issubclass(obj, FerError), f"{name}.{attr} does not derive from fer.errors.FerError"
    assert {"DataError", "RunError", "ModelConfigError", "FaceImageError"} <= {c.__name__ for c in found}


def _imports(path: Path, modules) -> set:
    """fer modules a file imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("fer"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)  # `from fer import distill`
            out |= subs if len(subs) == len(node.names) else subs | {node.module}
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fer"))
    return out


def test_no_import_cycle_among_fer_modules():
    files = {}
    for path in (ROOT / "fer").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: {i for i in _imports(p, files) if i in files and i != m} for m, p in files.items()}
    # a package's face (fer/x/__init__.py) re-exports its parts; importing a part runs the face
    # first, so an edge to "fer.x.y" is also an edge to "fer.x" unless it comes from inside fer.x
    for m, deps in graph.items():
        deps |= {d.rsplit(".", 1)[0] for d in deps if d.rsplit(".", 1)[0] in files and d.rsplit(".", 1)[0] != "fer"
                 and not m.startswith(d.rsplit(".", 1)[0])}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_only_fer_settings_reads_the_fer_environment_variables():
    def reads(path):
        text = path.read_text(encoding="utf-8")
        return re.search(r"environ|getenv", text) and re.search(r"""["']FER_""", text)

    files = [p for folder in ("fer", "ui", "views") for p in (ROOT / folder).rglob("*.py")] + [ROOT / "streamlit_app.py"]
    assert [str(p.relative_to(ROOT)) for p in files if reads(p)] == ["fer/settings.py"]


def test_the_pages_live_in_views_and_the_router_names_each_one():
    assert not (ROOT / "pages").exists()  # a pages/ folder switches Streamlit into its legacy multipage mode
    from ui import nav

    router = (ROOT / "streamlit_app.py").read_text(encoding="utf-8")
    for name, path in vars(nav).items():
        if name.isupper():
            assert (ROOT / path).is_file() and f"nav.{name}" in router, path


def test_the_cli_train_flags_are_the_train_config_fields_with_their_defaults():
    from fer.cli import _parser
    from fer.train import TrainConfig

    args = _parser().parse_args(["train"])
    for f in dataclasses.fields(TrainConfig):
        assert getattr(args, f.name) == f.default, f.name
    flipped = _parser().parse_args(["train", "--no-batchnorm", "--class-weights", "--lr", "0.01", "--optimizer", "sgd"])
    assert (flipped.batchnorm, flipped.class_weights, flipped.learning_rate, flipped.optimizer) == (False, True, 0.01, "sgd")
