import os
import textwrap

import pytest

from benchhub import plugins


@pytest.fixture(autouse=True, scope="session")
def _shared_cache(tmp_path_factory):
    """One model cache per test session (the tiny BLIP-2 is pre-trained once), never ~/.cache."""
    os.environ["BENCHHUB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield


@pytest.fixture
def fresh_plugins(monkeypatch):
    """A new plugin manager: entry points are loaded again on first use."""
    monkeypatch.setattr(plugins, "pm", plugins.new_plugin_manager())
    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setattr(plugins, "_registry", None)
    return plugins


@pytest.fixture
def toy(fresh_plugins):
    """Built-ins plus the throwaway toy plugin, unregistered afterwards."""
    import toyplugin

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(toyplugin, name="toyplugin")
    fresh_plugins.reset()
    try:
        yield toyplugin
    finally:
        fresh_plugins.pm.unregister(name="toyplugin")
        fresh_plugins.reset()


TOY_SUITE = """
[suite]
name = "toy"
methods = {methods}
models = ["toy"]
metrics = ["toy-accuracy"]

[dataset]
name = "toy-data"

[budget]
effective_batch = 8
micro_batch = 4
max_steps = 20
{extra}

[methods.full]
lr = 0.5
"""


@pytest.fixture
def toy_suite(tmp_path):
    """Write a toy suite file; returns its path."""

    def make(methods=("full",), extra=""):
        path = tmp_path / "toy.toml"
        methods_toml = "[" + ", ".join(f'"{m}"' for m in methods) + "]"
        path.write_text(textwrap.dedent(TOY_SUITE.format(methods=methods_toml, extra=extra)))
        return path

    return make
