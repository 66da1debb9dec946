"""Every command the README and the docs show exists, with flags its parser accepts; every link
between them leads to a file that exists."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from nrt import cli
from nrt.cli.common import lake_of
from producer import producer
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
# The front door, the manual behind it, and the READMEs of the tests and the benchmarks.
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
    ROOT / "tests" / "README.md",
]


def shell_lines() -> list[str]:
    """Every command line of every ```bash block in DOCS, once, comments cut."""
    blocks = [block for doc in DOCS for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S)]
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def test_the_commands_checked_include_the_manuals():
    names = {str(doc.relative_to(ROOT)) for doc in DOCS}
    assert {"docs/user-guide.md", "docs/operations.md", "docs/aws.md", "docs/local-vs-aws.md"} <= names
    assert len(shell_lines()) > 50


def test_the_quick_start_is_exactly_make_demo_then_make_test():
    quick = README.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test"]


def test_ci_runs_the_readmes_two_commands_the_demo_first():
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert [c for c in commands if c.startswith("make ")] == ["make demo", "make test"]


def test_the_demo_installs_the_product_alone_and_the_tests_add_the_dev_extra():
    demo = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", MAKEFILE, flags=re.M)
    dev = re.search(r"^\$\(DEV_STAMP\):.*\n((?:\t.*\n)+)", MAKEFILE, flags=re.M)
    assert demo and dev
    assert "sync" in demo.group(1) and "--locked" in demo.group(1) and "--extra" not in demo.group(1)
    assert "sync" in dev.group(1) and "--locked" in dev.group(1) and "--extra dev" in dev.group(1)
    assert re.search(r"^demo: \$\(STAMP\)", MAKEFILE, flags=re.M)


@pytest.mark.parametrize("line", [line for line in shell_lines() if line.startswith("make ")])
def test_make_targets_exist(line):
    for target in line.split()[1:]:
        assert re.search(rf"^{re.escape(target)}:", MAKEFILE, flags=re.M), target


@pytest.mark.parametrize("line", [line for line in shell_lines() if "bin/nrt " in line or line.startswith("nrt ")])
def test_nrt_commands_parse(line):
    argv = shlex.split(line.split("nrt ", 1)[1])
    if argv[0] == "produce":
        # nrt produce's own flags (--state-dir, --stack, --region) off, the rest the producer's.
        own = argparse.ArgumentParser(add_help=False)
        for flag in ("--state-dir", "--stack", "--region"):
            own.add_argument(flag)
        args = producer.build_parser().parse_args(own.parse_known_args(argv[1:])[1])
        producer.profile_from_args(args)
        producer.plan_from_args(args)
    else:
        assert cli.build_parser().parse_args(argv).func


@pytest.mark.parametrize("line", [line for line in shell_lines() if "producer/producer.py" in line])
def test_producer_commands_parse(line):
    args = producer.build_parser().parse_args(shlex.split(line.split("producer/producer.py", 1)[1]))
    producer.profile_from_args(args)
    producer.plan_from_args(args)


@pytest.mark.parametrize("line", [line for line in shell_lines() if "-m benchmarks." in line])
def test_benchmark_commands_parse(line):
    import importlib

    module, _, rest = line.split("-m ", 1)[1].partition(" ")
    assert importlib.import_module(module).build_parser().parse_args(shlex.split(rest))


def test_make_help_is_the_default_target():
    assert ".DEFAULT_GOAL := help" in MAKEFILE


def test_commands_that_read_local_state_follow_state_dir():
    parser = cli.build_parser()
    for command in (["query", "-e", "SELECT 1"], ["dashboard"]):
        args = parser.parse_args([*command, "--state-dir", "/tmp/other"])
        assert lake_of(args) == Path("/tmp/other/lake")
        assert lake_of(parser.parse_args([*command, "--lake", "/x"])) == Path("/x")


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", doc.read_text(), flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(doc):
    links = re.findall(r"\]\(([^):]*?)(?:#([^)]*))?\)", doc.read_text())
    missing = [f"{path}#{anchor}" for path, anchor in links if not (doc.parent / path).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to {missing}"
    unknown = [
        f"{path}#{anchor}"
        for path, anchor in links
        if anchor and anchor not in anchors(doc.parent / path if path else doc)
    ]
    assert not unknown, f"{doc.relative_to(ROOT)} links to headings that do not exist: {unknown}"
