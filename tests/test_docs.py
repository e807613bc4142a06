"""Every setting is documented where users look: the README and the packaged config."""

import re
from pathlib import Path

import pytest

from blinkt_agent import config, mapping
from blinkt_agent.errors import EXIT_CONFIG, EXIT_IOERR, EXIT_NOPERM, EXIT_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("key", [k.dotted for k in config.SCHEMA if k.section != "palette"])
def test_readme_settings_table_has_every_key(key):
    assert f"| `{key}` |" in README


def test_readme_names_every_palette_key():
    for key in config.PALETTE_KEYS:
        assert f"`{key}`" in README


@pytest.mark.parametrize("code", [0, 1, 2, EXIT_UNAVAILABLE, EXIT_IOERR, EXIT_NOPERM, EXIT_CONFIG])
def test_readme_documents_every_exit_code(code):
    assert re.search(rf"^\| {code} \|", README, re.MULTILINE)


def test_readme_starts_with_the_demo_and_test_commands():
    first_block = README.split("\n\n")[1]
    assert "make demo" in first_block and "make test" in first_block


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
