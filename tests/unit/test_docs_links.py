"""The README and docs/ hold together: every relative link leads to a file and heading that exist, every page
in docs/ is reachable from the README, every command they show exists, and the README stays short. External links
are not fetched."""

import re
from pathlib import Path

import click
import pytest

from app.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 220

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto: ...


def _split(path: Path) -> tuple[list[str], list[str]]:
    """The file's lines outside fenced code blocks (a ``# comment`` there is no heading, ``[a](b)`` no link),
    and what it shows as code: its fenced blocks' lines and its code spans."""
    prose, code, fence = [], [], ""
    for line in path.read_text().splitlines():
        opening = FENCE.match(line)
        if fence:
            if opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence):
                fence = ""
            else:
                code.append(line)
        elif opening:
            fence = opening[1]
        else:
            prose.append(line)
            code.extend(span[0].strip("`") for span in CODE_SPAN.finditer(line))
    return prose, code


def _prose(path: Path) -> list[str]:
    return _split(path)[0]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(path):
        if heading := HEADING.match(line):
            base = slug(heading[2])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeated headings
    return found


def links(path: Path) -> list[str]:
    targets = []
    for line in _prose(path):
        if reference := REFERENCE.match(line):
            targets.append(reference[1])
            continue
        targets.extend(match[1] for match in INLINE_LINK.finditer(CODE_SPAN.sub("", line)))
    return targets


def _resolve(source: Path, target: str) -> tuple[Path, str]:
    path, _, anchor = target.partition("#")
    return ((source.parent / path).resolve() if path else source), anchor


@pytest.mark.parametrize("source", [README, *PAGES], ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(source: Path) -> None:
    problems = []
    for target in links(source):
        if EXTERNAL.match(target):
            assert re.match(r"^(https?://[^\s/]+|mailto:)", target), f"{target!r} is not a well-formed link"
            continue
        assert target, f"{source.name} has an empty link"
        path, anchor = _resolve(source, target)
        if not path.exists():
            problems.append(f"{target}: no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
        elif anchor and path.suffix != ".md" and not re.fullmatch(r"L\d+(-L\d+)?", anchor):
            problems.append(f"{target}: only line anchors (#L12) point into a file that is not Markdown")
    assert not problems, f"broken links in {source.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    assert PAGES, "docs/ holds the reference pages"
    linked = {_resolve(README, target)[0] for target in links(README) if not EXTERNAL.match(target)}
    missing = [str(page.relative_to(ROOT)) for page in PAGES if page.resolve() not in linked]
    assert not missing, f"pages the README does not link to: {missing}"


def _code(path: Path) -> list[str]:
    return _split(path)[1]


COMMAND = re.compile(r"(?:^|[\s(;&|$])(flowplane|just)((?:[ \t]+[a-z][\w-]*(?:\\?\|[a-z][\w-]*)*)+)")
RECIPES = set(re.findall(r"^([a-z][\w-]*)[^:=\n]*:(?!=)", (ROOT / "justfile").read_text(), re.MULTILINE))


@pytest.mark.parametrize("source", [README, *PAGES], ids=lambda path: str(path.relative_to(ROOT)))
def test_every_command_shown_exists(source: Path) -> None:
    """`flowplane GROUP SUB|SUB` names real click commands; `just RECIPE` a recipe of the justfile."""
    problems = []
    for code in _code(source):
        for program, words in COMMAND.findall(code):
            first, *rest = words.split()
            if program == "just":
                problems += [f"just {first}: no such recipe"] if first not in RECIPES else []
                continue
            command = cli.get_command(click.Context(cli), first)
            if command is None:
                problems.append(f"flowplane {first}: no such command")
            elif isinstance(command, click.Group) and rest:
                problems += [f"flowplane {first} {name}: no such command" for name in re.split(r"\\?\|", rest[0])
                             if command.get_command(click.Context(command), name) is None]
    assert not problems, f"commands in {source.relative_to(ROOT)} that do not exist:\n" + "\n".join(problems)


def test_the_readme_is_what_a_user_needs_in_the_first_hour() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference material to docs/"


def test_the_quickstart_is_two_commands_in_one_block() -> None:
    text = README.read_text()
    section = text[text.index("## Quickstart"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks[0].splitlines() == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && just up",
        "just test",
    ]


@pytest.mark.parametrize(("heading", "anchor"), [
    ("When a server fails or goes silent", "when-a-server-fails-or-goes-silent"),
    ("Time you can move, in tests", "time-you-can-move-in-tests"),
    ("`flowplane up` & the [API](api.md)", "flowplane-up--the-api"),
    ("Redis or SQLite", "redis-or-sqlite"),
    ("tasks_queued and dead-letters", "tasks_queued-and-dead-letters"),
])
def test_anchors_are_spelled_as_github_spells_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_links_in_code_are_not_links_and_headings_in_code_are_not_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```toml\n#:schema ./schema.json\n[a](missing.md)\n```\n\n"
                    "`[b](missing.md)` and [c](#title) and [d](other.md#part)\n\n## Title\n")
    assert links(page) == ["#title", "other.md#part"]
    assert anchors(page) == {"title", "title-1"}
