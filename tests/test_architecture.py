"""The layers of the code point one way (docs/architecture.md).

The import graph is read from the source with ``ast``: every ``import`` and ``from … import`` of
every module of ``audit/``, ``models/`` and ``reports/``, those inside functions too (a deferred
import is still a dependency; it only hides a cycle from Python, not from a reader). An import of a
package's name (``from audit import logchain``) counts as an import of the module it names.

The layers, lowest first:

- ``models`` — the tables; imports nothing of the application.
- core — ``audit``'s own modules (money, vocab, pii, config, database, the audit log and its
  chain, access, rate limits, the CLI's actor) and the ledger's vocabulary and statistics: they
  import ``models`` and each other only.
- the engine — ``audit/engine`` (its ``cli`` excepted): rules, runs, parameters, exports.
- features — ``audit/<feature>/``: their queries and services.
- entry points — what a person or a clock starts: web views, CLI commands, the scheduler's jobs,
  the app factory and the registry that wires the features in; ``reports/``' builders sit under them.

What is asserted: no cycle; ``models`` imports nothing of ``audit`` or ``reports``; core imports
no engine, feature or entry point; the engine no feature, entry point or ``reports``; nothing but an
entry point imports ``reports``; nothing but the wiring imports a feature's CLI module or the
registry; no ``_private`` name is imported from another package; the migrations import
no application module; and no module outside the migrations is over 500 lines."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent
while not (ROOT / "pyproject.toml").exists():  # wherever this file sits under tests/
    ROOT = ROOT.parent
PACKAGES = ("audit", "models", "reports")
MIGRATIONS = ROOT / "models" / "migrations"
MAX_LINES = 500

# audit's own top-level modules and packages that are core: no feature, no web, no CLI; and three
# modules of the ledger that import nothing above core: its vocabulary (the tables' specs and
# headers, schema.py, and the cell converters, values.py), which the engine's coverage names
# columns by, and the planner statistics of its tables (statistics.py: SQL upkeep, as database.py),
# refreshed by the importer and by the run
CORE = {"audit.access", "audit.actor", "audit.auditlog", "audit.config", "audit.database",
        "audit.logchain", "audit.logchain.chain", "audit.logchain.key", "audit.logchain.verify",
        "audit.money", "audit.pii", "audit.ratelimit", "audit.sqlite", "audit.vocab",
        "audit.ledger.schema", "audit.ledger.statistics", "audit.ledger.values"}
# the wiring: the package's ``create_app``, the app factory, the registry, the console command, ``serve``
WIRING = {"audit", "audit.app", "audit.registry", "audit.cli", "audit.serve"}
# a module of one of these names is an entry point (a view, a CLI command, the devices' API)
ENTRY_NAMES = {"cli", "views", "export_views", "admin_views", "api", "web"}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if MIGRATIONS in path.parents:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imported_names(path: Path, module: str) -> list[tuple[str, str, int]]:
    """(dotted name as imported, the imported attribute or "", line) of every import in the file,
    relative imports resolved against ``module``'s package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found += [(name, a.name, node.lineno) for a in node.names]
    return found


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, dict[str, list[str]]]:
    """module -> {imported module: ["path:line", …]}."""
    graph: dict[str, dict[str, list[str]]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for name, attr, line in _imported_names(path, module):
            target = _resolve(f"{name}.{attr}" if attr and attr != "*" else name)
            if target and target != module:
                graph[module].setdefault(target, []).append(f"{path.relative_to(ROOT)}:{line}")
    return graph


GRAPH = _graph()


def _layer(module: str) -> str:
    top = module.split(".")[0]
    if top == "models":
        return "models"
    if top == "reports":
        return "entry" if module.rpartition(".")[2] in ENTRY_NAMES else "reports"
    if module in CORE:
        return "core"
    if module in WIRING or module.rpartition(".")[2] in ENTRY_NAMES or module == "audit.web":
        return "entry"
    if module.startswith("audit.scheduler"):  # a clock's entry point, as the CLI is a person's
        return "entry"
    if module.startswith("audit.engine"):
        return "engine"
    return "feature"


def _violations(allowed) -> list[str]:
    out = []
    for module, targets in sorted(GRAPH.items()):
        for target, where in sorted(targets.items()):
            if not allowed(module, target):
                out.append(f"{module} ({_layer(module)}) imports {target} ({_layer(target)})"
                           f" at {', '.join(where)}")
    return out


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one cycle
    through some of its modules (a path a reader can follow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # the graph is small (a few hundred modules): recursion is fine
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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
                components.append(component)

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        members, start = set(component), min(component)
        path, seen = [start], {start}
        while True:  # walk inside the component until a module repeats: that is a cycle
            step = min(w for w in GRAPH[path[-1]] if w in members)
            if step in seen:
                cycles.append(path[path.index(step):] + [step])
                break
            path.append(step)
            seen.add(step)
    return cycles


def test_the_graph_is_read():
    """The test reads what it should: every package is there, and imports inside functions count."""
    assert {"audit", "audit.app", "audit.registry", "models", "reports.archive"} <= set(MODULES)
    assert "audit.app" in GRAPH["audit"]  # ``create_app`` imports it inside the function
    assert GRAPH["audit.registry"], "the registry imports the features"


def test_no_import_cycle():
    cycles = _cycles()
    text = "\n".join(" -> ".join(c) + "\n    " + "\n    ".join(
        f"{a} -> {b}: {', '.join(GRAPH[a][b])}" for a, b in zip(c, c[1:], strict=False)) for c in cycles)
    assert not cycles, f"import cycles:\n{text}"


def test_models_import_nothing_of_the_application():
    assert not _violations(lambda m, t: _layer(m) != "models" or _layer(t) == "models")


def test_core_imports_only_models_and_core():
    assert not _violations(lambda m, t: _layer(m) != "core" or _layer(t) in ("models", "core"))


# The engine's imports of features, were one to be left for a while: none remain (the run's money,
# summary and report periods moved into the engine; the ledger's schema and statistics are core).
# The list only shrinks: a new edge fails, and so does one listed but gone.
ENGINE_PENDING: set[tuple[str, str]] = set()


def test_the_engine_imports_no_feature_web_cli_or_report():
    def allowed(m: str, t: str) -> bool:
        return _layer(m) != "engine" or _layer(t) in ("models", "core", "engine") or (m, t) in ENGINE_PENDING

    assert not _violations(allowed)
    gone = sorted(edge for edge in ENGINE_PENDING if edge[1] not in GRAPH[edge[0]])
    assert not gone, f"no longer imported: take them off ENGINE_PENDING: {gone}"


def test_only_entry_points_import_reports():
    """``reports/`` builds documents from the features' public functions; what asks for a document —
    a view, a command, a scheduled job, the app factory's start-up check — imports it."""
    assert not _violations(lambda m, t: _layer(t) != "reports" or _layer(m) in ("reports", "entry"))


def test_only_the_wiring_imports_a_cli_module_or_the_registry():
    """A feature's commands are registered by ``audit.registry``; a command may use another's (the
    demo's import uses the ledger's summary), nothing else imports one."""
    def allowed(m: str, t: str) -> bool:
        if t == "audit.registry":
            return m in WIRING
        if t.rpartition(".")[2] == "cli" or t == "audit.cli":
            return m in WIRING or m.rpartition(".")[2] == "cli" or KNOWN_CLI_IMPORTS.get(m) == t
        return True

    assert not _violations(allowed)


def test_every_command_is_listed_with_the_module_that_adds_it():
    """``audit`` loads a command's module when the command is asked for (``registry.COMMANDS``): each
    module adds exactly the commands listed for it, and each is found by its name."""
    import importlib

    import click

    from audit.cli import cli
    from audit.registry import COMMANDS

    for module in set(COMMANDS.values()):
        added = click.Group()
        importlib.import_module(module).register(added)
        assert set(added.commands) == {name for name, m in COMMANDS.items() if m == module}, module
    ctx = click.Context(cli)
    assert all(cli.get_command(ctx, name).name == name for name in COMMANDS)


# a module that imports a CLI module for a helper that belongs to a feature; the list only shrinks
KNOWN_CLI_IMPORTS: dict[str, str] = {}


def _package(module: str) -> str:
    """``audit.<feature>`` for a feature's or the engine's module, else the top-level package (core
    modules are ``audit``'s own)."""
    parts = module.split(".")
    if parts[0] == "audit" and len(parts) > 1 and f"audit.{parts[1]}" not in CORE | WIRING:
        return f"audit.{parts[1]}"
    return parts[0]


# ``_private`` names one package still takes from another, each to be made public (or moved) by
# the owner of the module named second. The list only shrinks: a new one fails, and so does one
# listed but gone.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def test_no_private_name_is_imported_across_packages():
    """``reports``, ``models``, core and each feature (and the engine) are packages: one does not
    take another's ``_private`` names."""
    found, bad = set(), []
    for module, path in MODULES.items():
        for name, attr, line in _imported_names(path, module):
            private = attr.startswith("_") and not attr.startswith("__")
            if private and _package(_resolve(name) or name) != _package(module):
                found.add((module, f"{name}.{attr}"))
                if (module, f"{name}.{attr}") not in KNOWN_PRIVATE_IMPORTS:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {name}.{attr}")
    assert not bad, "private names imported from another package:\n" + "\n".join(bad)
    gone = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not gone, f"no longer imported: take them off KNOWN_PRIVATE_IMPORTS: {gone}"


def test_migrations_import_no_application_module():
    """A migration is frozen: what it does must not change when the application's code does. Only
    Alembic, SQLAlchemy, Flask (env.py reads the engine and the metadata from Flask-Migrate at run
    time) and the standard library."""
    bad = []
    for path in sorted(MIGRATIONS.rglob("*.py")):
        for name, _attr, line in _imported_names(path, "models.migrations.x"):
            if name.split(".")[0] in PACKAGES:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not bad, "migrations importing the application:\n" + "\n".join(bad)


def _long_modules() -> list[str]:
    out = []
    for folder in (*PACKAGES, "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if MIGRATIONS in path.parents:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                out.append(f"{path.relative_to(ROOT)}: {lines} lines")
    return out


def test_no_module_is_over_500_lines():
    long = _long_modules()
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_rules_of_this_file_catch_what_they_should():
    """The checks themselves: a cycle is found and shown, and each layer is what the docs say."""
    assert _layer("models.ledger") == "models"
    assert _layer("audit.logchain.verify") == "core" and _layer("audit.logchain.cli") == "entry"
    assert _layer("audit.engine.runner") == "engine" and _layer("audit.engine.cli") == "entry"
    assert _layer("audit.findings.queries") == "feature" and _layer("audit.findings.views") == "entry"
    assert _layer("reports.archive") == "reports" and _layer("reports.views") == "entry"
    assert _layer("audit.scheduler.jobs") == "entry" and _layer("audit.registry") == "entry"
    assert _package("audit.engine.rules.arrears") == "audit.engine" != _package("audit.findings.money")
    assert _package("audit.logchain.chain") == _package("audit.access") == "audit"
    saved = {m: dict(t) for m, t in GRAPH.items()}
    try:
        GRAPH["models"]["audit.app"] = ["(made up)"]
        GRAPH["audit.app"]["models"] = ["(made up)"]
        assert any({"models", "audit.app"} <= set(c) for c in _cycles())
    finally:
        GRAPH.clear()
        GRAPH.update(saved)

