"""README "Exit codes" against the code: the tables cannot drift from what the commands return.

The legend must list exactly the ``EXIT_*`` constants of ``crawler/cli/common.py``; the per-command
table must have one row per command of ``crawler/cli/main.py`` and, for each, exactly the codes
its ``run`` can return, read from the source (``ast``): the ``EXIT_*`` names and integer
``return`` values in ``run``, the codes of the shared helpers it calls (``exit_code``,
``run_reporting``, ``failure_exit_code``, ``StopSignal.exit_code``, read the same way from
``common.py``), and what ``main`` adds to every command (argparse's usage error, Ctrl-C).
The commands run as subprocesses in ``tests/integration/test_cli_exit_codes.py``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from types import ModuleType

from support.docs import readme_exit_codes
from vksnd.crawler.cli import common, main

CONSTANTS = {name: value for name, value in vars(common).items() if name.startswith("EXIT_")}


# --- the codes a function can give, read from its source ----------------------------------------


def _tree(obj: object) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(obj)))  # type: ignore[arg-type]


def _referenced(node: ast.AST, helpers: dict[str, set[int]], stop: set[int]) -> set[int]:
    codes: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in CONSTANTS:
            codes.add(CONSTANTS[sub.id])
        elif isinstance(sub, ast.Name) and sub.id == "_OUTCOME_EXIT":
            codes.update(common._OUTCOME_EXIT.values())
        elif isinstance(sub, ast.Attribute) and sub.attr == "exit_code":  # StopSignal.exit_code
            codes.update(stop)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            codes.update(helpers.get(sub.func.id, set()))
        elif (
            isinstance(sub, ast.Return)
            and isinstance(sub.value, ast.Constant)
            and type(sub.value.value) is int
        ):
            codes.add(sub.value.value)
    return codes


def _returned(function: object, helpers: dict[str, set[int]], stop: set[int]) -> set[int]:
    """The codes in ``function``'s ``return`` statements."""
    returns = [n for n in ast.walk(_tree(function)) if isinstance(n, ast.Return) and n.value]
    return set().union(*(_referenced(r, helpers, stop) for r in returns))


def common_helpers() -> tuple[dict[str, set[int]], set[int]]:
    """The codes of ``common``'s functions (by name) and of ``StopSignal.exit_code``."""
    exit_code_property = common.StopSignal.exit_code
    assert isinstance(exit_code_property, property)
    stop = _returned(exit_code_property.fget, {}, set())
    functions = {
        name: fn
        for name, fn in vars(common).items()
        if inspect.isfunction(fn) and fn.__module__ == common.__name__
    }
    helpers: dict[str, set[int]] = {}
    while True:  # helpers calling helpers: until nothing changes
        found = {name: _returned(fn, helpers, stop) for name, fn in functions.items()}
        found = {name: codes for name, codes in found.items() if codes}
        if found == helpers:
            return helpers, stop
        helpers = found


def every_command() -> set[int]:
    """What ``main`` adds to every command: argparse's usage error, and Ctrl-C outside a run
    (``except KeyboardInterrupt``)."""
    codes = {common.EXIT_USAGE}  # argparse exits 2 on bad flags
    for handler in ast.walk(_tree(main.main)):
        if isinstance(handler, ast.ExceptHandler) and ast.unparse(handler.type or handler) == (
            "KeyboardInterrupt"
        ):
            codes |= _returned_in(handler)
    assert common.EXIT_INTERRUPTED in codes
    return codes


def _returned_in(node: ast.AST) -> set[int]:
    return {
        CONSTANTS[n.value.id]
        for n in ast.walk(node)
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id in CONSTANTS
    }


def command_codes(module: ModuleType) -> set[int]:
    helpers, stop = common_helpers()
    if "writer_flags" not in inspect.getsource(module):
        # DatabaseBusy comes only from the writer lock (storage.writer_lock), which only the
        # commands that write take: they are the ones with --wait (``writer_flags``).
        helpers = {name: codes - {common.EXIT_BUSY} for name, codes in helpers.items()}
    run = module.run
    return _referenced(_tree(run), helpers, stop) | every_command()


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"vksnd.crawler.cli.commands.{name}")


# --- the tests ------------------------------------------------------------------------------------


def test_the_legend_lists_exactly_the_exit_constants() -> None:
    by_code, _ = readme_exit_codes()
    assert by_code == {value: name for name, value in CONSTANTS.items()}
    assert len(set(CONSTANTS.values())) == len(CONSTANTS)


def test_every_command_has_a_row_and_no_other() -> None:
    _, by_command = readme_exit_codes()
    assert sorted(by_command) == sorted(main.COMMANDS)


def test_each_row_lists_exactly_the_codes_its_command_can_return() -> None:
    by_code, by_command = readme_exit_codes()
    wrong = {}
    for name in main.COMMANDS:
        derived = command_codes(_module(name))
        if by_command.get(name) != derived:
            wrong[name] = {"readme": sorted(by_command.get(name, ())), "code": sorted(derived)}
        assert derived <= set(by_code), (name, derived)
    assert not wrong, wrong


def test_the_reading_of_the_source_sees_the_shared_helpers() -> None:
    """The derivation itself: the helpers' codes are what common.py's docstrings say."""
    helpers, stop = common_helpers()
    assert stop == {130, 143}
    assert helpers["exit_code"] == {0, 1, 3, 130, 143}
    assert helpers["failure_exit_code"] == {1, 2, 4}
    assert helpers["run_reporting"] == {1, 2, 4, 130, 143}
