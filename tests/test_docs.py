"""README and docs/ say nothing a fresh clone contradicts: every relative link resolves, and every
command they show parses with the options it gives, without running the job it starts.

A command is a line of a ```sh block (a ``#`` starts its comment). Each is checked by the parser
of the program it runs: ``python -m MODULE`` by that module's own argparse parser (the run stops
once the arguments are parsed), ``pytest`` by pytest's (options, then the case selection, which
loads a plug-in given by path; nothing is collected), ``tox -m LABEL -- ARGS`` by tox.ini's label
and the command its environment runs with ARGS, ``pip install`` by the extras pyproject.toml
defines. A program this module cannot parse fails the test, so no command goes unchecked. Every
pytest command is parsed in one child process: each start of pytest here imports torch and jax to
learn which devices are present.
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import runpy
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Each argument list (a JSON list of lists, argv[2]) through pytest: its options parsed and the case
#: selection built (pytest_configure), then nothing collected or run. Exit codes and output to argv[1].
PARSE_ONLY_PYTEST = """
import contextlib, io, json, sys, pytest

class ParseOnly:
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        return True

def parse(args):
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main(args, plugins=[ParseOnly()])
    return int(code), output.getvalue()[-2000:]

with open(sys.argv[1], "w") as out:
    json.dump([parse(args) for args in json.loads(sys.argv[2])], out)
"""


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def commands(page: Path) -> list[str]:
    lines = [line.split(" #")[0].strip() for block in SH_BLOCK.findall(page.read_text()) for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def shown() -> dict[str, str]:
    """Each command shown, once, with the first page that shows it."""
    first_page: dict[str, str] = {}
    for page in PAGES:
        for command in commands(page):
            first_page.setdefault(command, page.name)
    return first_page


def invocations(command: str) -> list[tuple[str, ...]]:
    """What a command line runs: one ("pytest" | "pip" | "module", *arguments) per program it starts, or
    ("unparsable", why) where no parser here can check it."""
    found = []
    for part in command.split(" && "):
        program, *args = shlex.split(part)
        if program in ("python", "python3") and args[:1] == ["-m"]:
            module, args = args[1], args[2:]
            found.append((module, *args) if module in ("pytest", "pip") else ("module", module, *args))
        elif program == "pytest":
            found.append(("pytest", *args))
        elif program == "tox":
            try:
                found += [step for line in tox_commands(args) for step in invocations(line)]
            except ValueError as error:
                found.append(("unparsable", str(error)))
        else:
            found.append(("unparsable", f"no parser for {program!r} here; teach tests/test_docs.py to check it"))
    return [("unparsable", "pytest --benchmark starts the job once its options parse; show python -m bench instead")
            if kind == "pytest" and "--benchmark" in args else (kind, *args) for kind, *args in found]


def tox_commands(args: list[str]) -> list[str]:
    """``tox -m LABEL [-- ARGS]``: the commands tox.ini runs for that label, with ARGS in place of {posargs}."""
    if args[:1] != ["-m"] or len(args) < 2:
        raise ValueError("only `tox -m LABEL [-- ARGS]` is checked here")
    label, posargs = args[1], args[args.index("--") + 1:] if "--" in args else []
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    labels = dict(line.split(" = ") for line in ini["tox"]["labels"].strip().splitlines())
    if label not in labels:
        raise ValueError(f"tox.ini has no label {label!r} (it has {', '.join(labels)})")
    factors = set(labels[label].split("-"))
    found = []
    for line in ini["testenv"]["commands"].strip().splitlines():
        condition, command = line.split(": ", 1)
        if set(condition.split("-")) <= factors:
            found.append(command.replace("{posargs}", shlex.join(posargs)).strip())
    if not found:
        raise ValueError(f"tox.ini runs no command in {labels[label]}")
    return found


def programs_shown(pytest_runs: bool) -> list:
    """What the commands shown run (``invocations``): pytest's runs, or every other program's, each named by
    its page, its command and the program."""
    return [pytest.param(command, kind, args, id=f"{page}:{command}->{args[0] if kind == 'module' else kind}")
            for command, page in shown().items() for kind, *args in invocations(command)
            if (kind == "pytest") == pytest_runs]


def test_readme_is_a_quick_start():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; the rest belongs in docs/"
    first_screen = "\n".join(lines[:60])
    for command in ("python -m reference examples/my_impl.py", "pytest --impl-path=examples/my_impl.py"):
        assert command in first_screen, f"README's first 60 lines do not show {command!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that id in {resolved.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_links_every_page_of_docs():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(ROOT / "README.md")}
    unlinked = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert PAGES[1:] and not unlinked, f"docs/ pages README does not link: {unlinked or 'docs/ is empty'}"


@pytest.mark.parametrize(("command", "kind", "args"), programs_shown(pytest_runs=False))
def test_every_command_shown_parses(command, kind, args, monkeypatch):
    assert kind != "unparsable", f"{command}: {args[0]}"
    if kind == "pip":
        check_pip(args)
    else:
        check_module(args[0], args[1:], monkeypatch)
    assert_paths_exist(args)


def test_every_pytest_command_shown_parses(tmp_path):
    runs = [param.values for param in programs_shown(pytest_runs=True)]
    assert runs, "no page shows a pytest command"
    found = tmp_path / "found.json"
    arguments = [[*args, "-n", "0", "-p", "no:cacheprovider"] for _, _, args in runs]
    subprocess.run([sys.executable, "-c", PARSE_ONLY_PYTEST, str(found), json.dumps(arguments)], cwd=ROOT,
                   check=True, timeout=600)
    failed = [f"{command}: pytest {shlex.join(args)} exits {code}:\n{output}"
              for (command, _, args), (code, output) in zip(runs, json.loads(found.read_text()))
              if code != pytest.ExitCode.NO_TESTS_COLLECTED]
    assert not failed, "\n".join(failed)
    for _, _, args in runs:
        assert_paths_exist(args)


class Parsed(Exception):
    """Raised in place of running a program once its arguments have parsed."""


def check_module(module: str, args: list[str], monkeypatch) -> None:
    """``python -m module args``: run as Python would, up to the end of argparse's parse_args."""
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser, argv=None, namespace=None):
        raise Parsed(parse(parser, argv, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [module, *args])
    with pytest.raises(Parsed):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as error:
            pytest.fail(f"python -m {shlex.join([module, *args])}: does not parse (exit {error.code})")


def check_pip(args: list[str]) -> None:
    """``pip install ...``: every extra named (``-e ".[a,b]"``) is one pyproject.toml defines."""
    assert args[:1] == ["install"], f"pip {shlex.join(args)}: only pip install is shown here"
    defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extras in re.findall(r"^\.\[(.+)\]$", "\n".join(args), flags=re.MULTILINE):
        unknown = set(extras.split(",")) - set(defined)
        assert not unknown, f"pip {shlex.join(args)}: pyproject.toml defines no extra {', '.join(sorted(unknown))}"


def assert_paths_exist(args: list[str]) -> None:
    """Files a command names (``FILE.py``, ``FILE.py:Class``, a run under results/) are in the repository."""
    for arg in args:
        path = arg.split("=")[-1].split(":")[0]
        if path.endswith(".py") or path.startswith("results/"):
            assert (ROOT / path).exists(), f"{arg}: no such file in the repository"


def test_readme_shows_the_newest_readable_default_runs_headline_and_latest_the_newest_runs_as_the_report_renders_them():
    """Never typed by hand: `python -m bench.report headline results/<run> --into README.md` writes README's,
    `python -m bench.report latest` LATEST.md's."""
    pytest.importorskip("pandas", reason="the report reads the run with pandas")
    from bench.report.headline import MARKERS, front_door_run, headline_markdown, headline_on_page, runs_in

    newest = runs_in(ROOT / "results")[-1]
    readme_run = front_door_run(ROOT / "results")
    for page, run, block, command in (
            ("README.md", readme_run, headline_on_page(readme_run, ROOT / "README.md"), "headline {run} --into README.md"),
            ("results/LATEST.md", newest, headline_markdown(newest), "latest")):
        text = (ROOT / page).read_text()
        shown = text.split(MARKERS[0])[1].split(MARKERS[1])[0].strip()
        assert shown == block.strip(), \
            f"{page}: its headline is not {run.name}'s; run python -m bench.report " + \
            command.format(run=run.relative_to(ROOT))
