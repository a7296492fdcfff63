"""Every hook has a test_hook_<name> test and its exact signature in the plugin guide."""
import inspect
import re
from pathlib import Path

import pytest

from benchhub import hookspecs

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "writing-plugins.md").read_text()
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "benchhub_spec")]


def test_there_are_hooks():
    assert set(HOOKS) >= {"register_methods", "register_models", "register_datasets", "register_metrics",
                          "register_commands"}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert re.search(rf"^def test_hook_{hook}\(", tests, re.M), f"add test_hook_{hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    fn = getattr(hookspecs, hook)
    signature = f"{hook}{inspect.signature(fn)}".replace("typing.", "")
    assert signature in GUIDE, f"document `{signature}` in docs/writing-plugins.md"
    assert inspect.getdoc(fn).splitlines()[0] in GUIDE


def test_readme_links_the_guide():
    assert "docs/writing-plugins.md" in (ROOT / "README.md").read_text()
