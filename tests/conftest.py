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


# A 1×1 PNG: what a leaderboard's plot files hold in tests that do not look at plots. Drawing the six
# matplotlib PNGs after every `run` is about 0.9 s each time; tests/core/test_report_figures.py (marked
# real_plots) checks the real ones, and subprocess runs (the e2e tests) always draw them.
_TINY_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                          "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4a00000000049454e44ae426082")


@pytest.fixture(autouse=True)
def _quick_plots(request, monkeypatch):
    if "real_plots" not in request.keywords:
        from benchhub.report import static

        monkeypatch.setattr(static, "png", lambda plot, primary: _TINY_PNG)
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
