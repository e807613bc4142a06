"""Every setting is documented where users look, checked against config.SCHEMA.

The README has what a user needs first (the demo and test commands, the LED
legend, the exit codes); docs/CONFIGURATION.md has every setting, environment
variable and flag; the packaged config comments every key.
"""

import re
from pathlib import Path

import pytest

from blinkt_agent import cli, config, mapping
from blinkt_agent.displays import DISPLAYS
from blinkt_agent.errors import EXIT_CONFIG, EXIT_IOERR, EXIT_NOPERM, EXIT_UNAVAILABLE
from tools import ansi_png

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "CONFIGURATION.md").read_text()


def _section(text: str, heading: str) -> str:
    """The body of the `## heading` section, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def _code_blocks(text: str) -> list[str]:
    """Indented (4-space) code blocks, in order."""
    return [
        re.sub(r"^ {4}", "", block, flags=re.M)
        for block in re.findall(r"(?:^ {4}.*\n)+", text, re.M)
    ]


@pytest.mark.parametrize("key", [k.dotted for k in config.SCHEMA if k.section != "palette"])
def test_configuration_settings_table_has_every_key(key):
    assert f"| `{key}` |" in _section(CONFIGURATION, "Settings")


def test_configuration_settings_table_gives_each_default():
    table = _section(CONFIGURATION, "Settings")
    for key in config.SCHEMA:
        if key.section == "palette":
            continue
        row = re.search(rf"^\| `{re.escape(key.dotted)}` \| `([^`]*)` \|", table, re.M)
        assert row, key.dotted
        documented = row.group(1)
        if key.type is str:
            assert documented == f'"{key.default}"', key.dotted
        elif key.type is bool:
            assert documented == str(key.default).lower(), key.dotted
        else:
            assert key.type(documented) == key.default, key.dotted


def test_configuration_names_every_palette_key():
    for key in config.PALETTE_KEYS:
        assert f"`{key}`" in _section(CONFIGURATION, "Settings")


@pytest.mark.parametrize("variable", [*config.ENVIRONMENT, "BLINKT_AGENT_CONFIG"])
def test_configuration_lists_every_environment_variable(variable):
    table = _section(CONFIGURATION, "Environment variables")
    expected = config.ENVIRONMENT.get(variable)
    row = re.search(rf"^\| `{variable}` \| (.*) \|$", table, re.M)
    assert row, variable
    if expected:
        assert row.group(1) == f"`{expected}`"


def test_configuration_lists_every_flag_of_the_command_line():
    flags = {
        option
        for action in cli._parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--version")
    }
    table = _section(CONFIGURATION, "Flags")
    for flag in flags:
        assert re.search(rf"^\|[^|]*`{flag}[ `]", table, re.M), flag


def test_readme_legend_names_every_palette_key():
    legend = _section(README, "What the LEDs mean")
    for key in config.PALETTE_KEYS:
        assert f"`{key}`" in legend


@pytest.mark.parametrize("code", [0, 1, 2, EXIT_UNAVAILABLE, EXIT_IOERR, EXIT_NOPERM, EXIT_CONFIG])
def test_readme_documents_every_exit_code(code):
    assert re.search(rf"^\| {code} \|", _section(README, "Exit codes"), re.MULTILINE)


def test_readme_starts_with_a_picture_then_the_demo_and_test_commands():
    """What this is, a real picture, and the two commands that work on a fresh machine.

    Both commands stay on the first screen (the first 15 lines); `make test` says it
    needs root, and the Development section explains it.
    """
    lines = README.splitlines()
    picture = next(
        i for i, line in enumerate(lines) if re.match(r"!\[.+\]\(docs/demo\.png\)", line)
    )
    demo = next(i for i, line in enumerate(lines) if line.startswith("    make demo"))
    test = next(i for i, line in enumerate(lines) if re.match(r"    (sudo )?make test", line))
    assert 0 < picture < demo < test < 15
    assert "root" in lines[test] and "root" not in lines[demo]
    assert (ROOT / "docs" / "demo.png").is_file()
    assert "\n## " not in "\n".join(lines[:test])  # no section comes before them


def test_readme_development_section_explains_make_test():
    development = _section(README, "Development")
    assert "make test" in development and "root" in development
    assert "docs/TESTING.md" in development


def test_readme_stays_short():
    # 260 before the Displays section: a picture, a legend and the wiring per display.
    assert len(README.splitlines()) <= 360


def test_readme_shows_each_hardware_display_in_a_real_picture_with_its_settings():
    """Each display has its row (settings, package, group) and a picture in "Displays",
    with alt text that says what it shows; each picture is its committed capture
    (tools/demo-screenshot.sh --displays) rendered, 80 columns wide."""
    displays = _section(README, "Displays")
    pictures = re.findall(r"^!\[([^\]]*)\]\((docs/display-[a-z-]+)\.png\)$", displays, re.M)
    for name, kind in DISPLAYS.items():
        row = re.search(rf"^\| `{name}`[ `,].*$", displays, re.M)
        assert row, name
        for key in config.SCHEMA:
            if key.section == kind.section:
                assert f"`{key.dotted}`" in row.group(0), key.dotted
        for package in kind.packages:
            assert all(f"`{p.strip()}`" in displays for p in package.split("|")), package
        for group in kind.groups:
            assert row.group(0).endswith(f"| `{group}` |"), name
        if kind.hardware:
            assert any(f"--display {name}" in alt for alt, _ in pictures), name
    for alt, stem in pictures:
        assert len(alt.split()) >= 12, stem  # says what the picture shows, not just its name
        assert (ROOT / f"{stem}.png").is_file() and (ROOT / f"{stem}.ansi").is_file(), stem
    pil = pytest.importorskip("PIL.Image")
    if not ansi_png.DEFAULT_FONT.is_file():
        pytest.skip(f"needs {ansi_png.DEFAULT_FONT} (Debian: fonts-dejavu-core)")
    for _, stem in pictures:
        rows = ansi_png.parse((ROOT / f"{stem}.ansi").read_text(encoding="utf-8"))
        with pil.open(ROOT / f"{stem}.png") as picture:
            assert picture.size == ansi_png.render(rows, columns=80).size, stem


# Being written on another branch at the same time as the pages that link to it.
# Remove an entry once its page is merged.
DOCS = ["README.md", "roles/blinkt_agent/README.md", "deploy/kubernetes/README.md"] + [
    str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md"))
]


def _anchors(text: str) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces to '-'."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.*)$", text, re.M)
    }


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_point_at_files_and_headings_that_exist(doc):
    path = ROOT / doc
    for target, anchor in re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", path.read_text()):
        linked = (path.parent / target).resolve() if target else path
        assert linked.exists(), f"{doc}: {target}"
        if anchor and linked.exists():
            assert anchor in _anchors(linked.read_text()), f"{doc}: {target}#{anchor}"


def test_readme_configuration_example_is_a_config_the_agent_accepts(tmp_path):
    example = _code_blocks(_section(README, "Configuration"))[0]
    path = tmp_path / "config.toml"
    path.write_text(example)
    settings = config.load(path, environ={})
    assert settings["mode"] == "memory"


def test_packaged_config_comments_every_key_with_its_default():
    text = (ROOT / "etc" / "config.toml").read_text()
    for key in config.SCHEMA:
        assert re.search(rf"^#\s*{re.escape(key.name)}\s*=", text, re.MULTILINE), key.dotted
    # Everything is commented out: the file documents, the defaults live in the code.
    assert not [line for line in text.splitlines() if re.match(r"^[a-z_]+\s*=", line)]


def test_packaged_config_is_valid_toml_once_uncommented(tmp_path):
    """Uncommenting every setting gives a config the agent accepts (the defaults)."""
    text = (ROOT / "etc" / "config.toml").read_text()
    # The ACL policy quoted in a comment is HCL for Nomad, not settings.
    text = re.sub(r"# BEGIN blinkt-agent ACL .*?# END blinkt-agent ACL \w+\n", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        match = re.match(r"^#?\s*(\[[a-z]+\]|[a-z_]+\s*=.*)$", line)
        if match:
            lines.append(match.group(1))
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    settings = config.load(path, environ={})
    assert settings.values == config.defaults().values | {
        f"palette.{k}": settings[f"palette.{k}"] for k in config.PALETTE_KEYS
    }
    default = mapping.Palette.default()
    assert mapping.Palette.from_hex(settings.palette) == default  # documented = real defaults
