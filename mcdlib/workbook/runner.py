"""The papermill driver: run notebooks headlessly with a named parameter set.

Parameter sets live in ``notebooks/params/<name>.yaml``::

    all:                     # offered to every notebook (applied where the notebook declares it)
      preset: tiny
    notebooks:
      05_train_mcd.ipynb:     # per notebook: every name must exist in its parameters cell
        epochs: 1

Unknown names are an error here (papermill itself only logs a warning): a name under
``notebooks:`` must be declared by that notebook, a name under ``all:`` by at least one notebook;
malformed YAML or a scalar where a mapping belongs is an error naming the file and the key. Each executed notebook
is written to the output folder; the driver returns a non-zero status when any run failed.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from mcdlib.config import short_repr
from mcdlib.errors import ConfigError, McdError
from mcdlib.workbook.session import repo_root

KERNEL = "python3"


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def list_notebooks(folder: Path | None = None) -> list[Path]:
    """The ordered ``NN_topic.ipynb`` notebooks."""
    folder = folder or notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def _read(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def parameters_cell(nb, where: str = "notebook") -> dict:
    """The literals assigned in the cell tagged ``parameters`` (one ``name = literal`` a line).

    ``where`` (the notebook's name) is used in the ConfigError raised for zero or several
    tagged cells, a syntax error, or a value that is not a literal."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"{where}: a notebook needs exactly one cell tagged 'parameters' (found {len(cells)}); "
                          "tag the cell of `name = literal` lines, and only that one")
    try:
        body = ast.parse(cells[0].source).body
    except SyntaxError as exc:
        raise ConfigError(f"{where}: the parameters cell does not parse (line {exc.lineno}: {exc.msg})") from exc
    values = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name = node.target.id
        else:
            continue
        try:
            values[name] = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ConfigError(f"{where}: parameter {name!r} (line {node.lineno}) is not a literal; write "
                              "`name = literal` in the parameters cell and derive values in the next cell") from exc
    return values


def param_set_path(name_or_path: str | Path) -> Path:
    """``smoke`` → notebooks/params/smoke.yaml; a path is returned as is."""
    path = Path(name_or_path)
    return path if path.suffix else notebooks_dir() / "params" / f"{name_or_path}.yaml"


def load_param_set(name_or_path: str | Path) -> dict:
    """``smoke`` → notebooks/params/smoke.yaml; a path is read as is."""
    path = param_set_path(name_or_path)
    if not path.is_file():
        available = sorted(p.stem for p in (notebooks_dir() / "params").glob("*.yaml"))
        raise ConfigError(f"parameter set {str(name_or_path)!r} not found ({path}); available: {', '.join(available)}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())}); fix the file "
                          "(see notebooks/params/smoke.yaml for the layout)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the parameter set ({exc})") from None
    layout = "a mapping with 'all:' (offered to every notebook) and 'notebooks:' (per notebook)"
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level holds {type(data).__name__} {short_repr(data)}, expected {layout}")
    unknown = set(data) - {"all", "notebooks"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(map(str, unknown))}; use 'all' and 'notebooks'")
    for key in ("all", "notebooks"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ConfigError(f"{path}: '{key}' holds {type(data[key]).__name__} {short_repr(data[key])}, expected a "
                              f"mapping of {'parameter: value' if key == 'all' else 'notebook: {parameter: value}'}")
    for notebook, values in (data.get("notebooks") or {}).items():
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{path}: notebooks.{notebook} holds {type(values).__name__} {short_repr(values)}, "
                              "expected a mapping of parameter: value")
    return {"all": data.get("all") or {}, "notebooks": data.get("notebooks") or {}}


def parameters_for(notebook: Path, param_set: dict, extra: dict | None = None) -> dict:
    """The parameters to inject into one notebook; unknown names raise ConfigError."""
    declared = parameters_cell(_read(notebook), notebook.name)
    chosen = {k: v for k, v in (param_set.get("all") or {}).items() if k in declared}
    specific = dict((param_set.get("notebooks") or {}).get(notebook.name) or {})
    specific.update({k: v for k, v in (extra or {}).items() if k in declared})
    unknown = sorted(set(specific) - set(declared))
    if unknown:
        raise ConfigError(f"{notebook.name}: unknown parameter(s) {unknown}; its parameters cell declares {sorted(declared)}")
    chosen.update(specific)
    return chosen


def check_shared_names(param_set: dict, notebooks: list[Path], source: str = "parameter set") -> None:
    """Every name under ``all:`` must be declared by at least one notebook (a typo such as
    ``seeed`` would otherwise be dropped silently and the notebooks run with their defaults)."""
    shared = set(param_set.get("all") or {})
    if not shared:
        return
    declared: set[str] = set()
    for nb in notebooks:
        declared |= set(parameters_cell(_read(nb), nb.name))
    unknown = sorted(map(str, shared - declared))
    if unknown:
        hints = "; ".join(f"{name!r}{_closest(name, declared)}" for name in unknown)
        raise ConfigError(f"{source}: 'all' names parameters no notebook declares: {hints}; "
                          f"declared parameters: {', '.join(sorted(declared))}")


def _closest(name: str, names) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parameterize(notebook: Path, parameters: dict, out: Path) -> Path:
    """Write a copy of ``notebook`` with papermill's injected-parameters cell (no execution)."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    # papermill's loader gives every cell a ``tags`` list, which parameterize_notebook expects
    nb = parameterize_notebook(load_notebook_node(str(notebook)), parameters, kernel_name=KERNEL, language="python")
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    return out


@dataclass
class NotebookRun:
    notebook: str
    output: Path
    ok: bool
    seconds: float
    error: str = ""


def run_notebooks(names: list[str] | None = None, params: str | Path = "classroom",
                  out_dir: str | Path | None = None, extra: dict | None = None,
                  progress: bool = True) -> list[NotebookRun]:
    """Execute notebooks in order with papermill (kernel python3, cwd = notebooks/)."""
    import papermill as pm

    all_nbs = list_notebooks()
    if names:
        by_name = {p.name: p for p in all_nbs} | {p.stem: p for p in all_nbs}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise McdError(f"unknown notebook(s) {missing}; available: {[p.name for p in all_nbs]}")
        selected = [by_name[n] for n in names]
    else:
        selected = all_nbs
    param_set = load_param_set(params)
    misnamed = sorted(set(param_set["notebooks"]) - {p.name for p in all_nbs})
    if misnamed:  # a typo here would otherwise be ignored silently
        raise ConfigError(f"parameter set {str(params)!r}: 'notebooks' names unknown notebook(s) {misnamed}; "
                          f"available: {[p.name for p in all_nbs]}")
    check_shared_names(param_set, all_nbs, str(param_set_path(params)))
    out = Path(out_dir or repo_root() / "runs" / "notebooks" / Path(str(params)).stem)
    out.mkdir(parents=True, exist_ok=True)
    plan = [(nb, parameters_for(nb, param_set, extra)) for nb in selected]  # validate all first
    results = []
    for nb, parameters in plan:
        start = time.perf_counter()
        target = out / nb.name
        try:
            pm.execute_notebook(str(nb), str(target), parameters=parameters, kernel_name=KERNEL,
                                language="python", cwd=str(nb.parent), progress_bar=progress)
            results.append(NotebookRun(nb.name, target, True, time.perf_counter() - start))
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell
            results.append(NotebookRun(nb.name, target, False, time.perf_counter() - start,
                                       str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)))
    return results
