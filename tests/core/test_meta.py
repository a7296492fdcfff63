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


def test_the_lock_pins_every_dependency_and_this_environment_matches_it():
    """`make` installs with `-c requirements.lock`: every dependency of pyproject (and the dev extra) is pinned
    there, and the environment running the tests is the locked one (issue 15)."""
    import re
    import tomllib
    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pins = dict(line.split("==") for line in (root / "requirements.lock").read_text().splitlines()
                if line and not line.startswith("#"))
    pins = {re.sub(r"[-_.]+", "-", name).lower(): v for name, v in pins.items()}
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()
        assert name in pins, f"{name} is not pinned in requirements.lock"
    mismatched = []
    for name, pinned in pins.items():
        try:
            installed = version(name).split("+")[0]
        except PackageNotFoundError:
            continue
        if installed != pinned:
            mismatched.append(f"{name} {installed} (lock: {pinned})")
    assert not mismatched, mismatched


def test_hub_access_is_the_users_environments(monkeypatch):
    """benchhub does not switch the Hub off in a run's process (issue 15): HF_HUB_OFFLINE stays as the user set it
    (the tests set it: they never use the network), and a failed hub load names the settings."""
    from benchhub.errors import HUB_SETTINGS
    from benchhub.isolation import quiet_libraries

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    quiet_libraries()
    assert "HF_HUB_OFFLINE" not in __import__("os").environ
    assert "HF_HUB_OFFLINE=1" in HUB_SETTINGS and "HF_ENDPOINT" in HUB_SETTINGS
