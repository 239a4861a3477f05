"""The README's generated sections stay equal to what the code says."""

from __future__ import annotations

import re

import pytest

from infra.config import StackConfig
from tools import docs


@pytest.mark.parametrize("section", sorted(docs.SECTIONS))
def test_readme_section_is_current(section: str) -> None:
    text = docs.README.read_text()
    current = docs.render(text, {section: docs.SECTIONS[section]()})
    assert current == text, f"README.md's {section} is stale: run `.venv/bin/python -m tools.docs`"


def test_reference_names_every_key_with_its_description() -> None:
    reference = docs.config_reference()
    for name, field in StackConfig.model_fields.items():
        assert f"`hoist:{name}`" in reference and str(field.description) in reference
    assert "`hoist:registry.replicate_to`" in reference and "`hoist:gpu_pools.<name>.max_gpus`" in reference


def test_render_replaces_only_between_markers() -> None:
    text = "a\n<!-- cost-table:start -->\nold\n<!-- cost-table:end -->\nb\n"
    assert docs.render(text, {"cost-table": "new"}) == "a\n<!-- cost-table:start -->\nnew\n<!-- cost-table:end -->\nb\n"
    with pytest.raises(ValueError, match="no <!-- config-reference:start -->"):
        docs.render(text, {"config-reference": "x"})


def test_the_readme_names_one_secrets_provider_form() -> None:
    """Both projects of a stack share its stack file, so they must be initialised with the same provider;
    the README shows one form (the key's ARN, which carries its region) wherever it names one."""
    readme = docs.README.read_text()
    forms = re.findall(r"awskms://[^\s`]*", readme)
    assert len(forms) >= 3 and set(forms) == {"awskms:///<key-arn>"}, forms
