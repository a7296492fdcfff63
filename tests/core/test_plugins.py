import importlib.metadata
import json
import sys
import types

import pytest
from click.testing import CliRunner

import benchhub
from benchhub.cli import cli
from benchhub.errors import UserError

BUILTINS = {"method": {"full", "lora", "zero-shot"}, "model": {"blip2"}, "dataset": {"shapes"},
            "metric": {"coco-caption"}}


def test_builtins_load_through_entry_points(fresh_plugins):
    reg = fresh_plugins.registry()
    for kind, names in BUILTINS.items():
        assert names <= set(reg.names(kind))
    owners = {p["name"]: p for p in fresh_plugins.describe_plugins()}
    assert owners["method_lora"]["package"] == "benchhub"
    assert owners["method_lora"]["registers"] == {"method": ["lora"]}
    assert owners["method_lora"]["hooks"] == ["register_methods"]


def test_throwaway_plugin_registered_in_fixture(toy):
    reg = benchhub.plugins.registry()
    assert reg.get("method", "explode") is toy.Explode
    assert reg.owners[("model", "toy")] == "toyplugin"


class _FakeDist:
    """What pluggy reads from importlib.metadata for one distribution."""

    def __init__(self, name, entry_points):
        self.metadata = {"name": name}
        self.version = "9.9"
        self.entry_points = entry_points
        self.files = []

    @property
    def name(self):
        return self.metadata["name"]


def test_plugin_discovered_through_faked_entry_points(fresh_plugins, monkeypatch):
    module = types.ModuleType("benchhub_fake_plugin")

    class Shiny:
        name = "shiny"
        default_lr = 1e-3

        def prepare(self, bundle):
            return bundle

    @benchhub.hookimpl
    def register_methods(register):
        register(Shiny)

    module.register_methods = register_methods
    monkeypatch.setitem(sys.modules, "benchhub_fake_plugin", module)
    ep = importlib.metadata.EntryPoint(name="shiny", value="benchhub_fake_plugin", group="benchhub")
    real = list(importlib.metadata.distributions())
    monkeypatch.setattr(importlib.metadata, "distributions",
                        lambda: real + [_FakeDist("benchhub-shiny", [ep])])
    reg = fresh_plugins.registry()
    assert reg.get("method", "shiny") is Shiny
    listed = {p["name"]: p for p in fresh_plugins.describe_plugins()}
    assert listed["shiny"]["package"] == "benchhub-shiny"
    assert listed["shiny"]["version"] == "9.9"
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    assert any(p["name"] == "shiny" and p["registers"] == {"method": ["shiny"]} for p in json.loads(result.output))


def test_hook_register_commands(fresh_plugins):
    import click

    from benchhub.cli import main

    class Extra:
        @staticmethod
        @benchhub.hookimpl
        def register_commands(cli):
            @cli.command(name="hello-extra")
            def hello():
                """Say hello."""
                click.echo("hello from a plugin")

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(Extra, name="extra")
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["hello-extra"])
        assert exit_info.value.code == 0
    finally:
        fresh_plugins.pm.unregister(name="extra")
        cli.commands.pop("hello-extra", None)


REQUIRED = {"method": "prepare", "model": "build", "dataset": "load", "metric": "compute", "augmentation": "apply"}


def _register_through(fresh_plugins, hook: str):
    """Register a throwaway component through `hook` and look it up in the registry."""
    from benchhub.components import BASES

    kind = hook[len("register_"):-1]
    Thing = type("Thing", (), {"name": f"thing-{kind}", REQUIRED[kind]: lambda self, *a, **k: None})
    plugin = types.SimpleNamespace()
    setattr(plugin, hook, benchhub.hookimpl(lambda register: register(Thing)))
    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(plugin, name="thing")
    fresh_plugins.reset()
    assert fresh_plugins.registry().get(kind, f"thing-{kind}") is Thing
    assert fresh_plugins.registry().owners[(kind, f"thing-{kind}")] == "thing"
    # a plain class gets the documented defaults of its kind's base class
    assert Thing.variant_option == BASES[kind].variant_option
    assert fresh_plugins.registry().create(kind, f"thing-{kind}") is not None


def test_hook_register_methods(fresh_plugins):
    _register_through(fresh_plugins, "register_methods")


def test_hook_register_models(fresh_plugins):
    _register_through(fresh_plugins, "register_models")


def test_hook_register_datasets(fresh_plugins):
    _register_through(fresh_plugins, "register_datasets")


def test_hook_register_metrics(fresh_plugins):
    _register_through(fresh_plugins, "register_metrics")


def test_hook_register_augmentations(fresh_plugins):
    _register_through(fresh_plugins, "register_augmentations")


def test_duplicate_names_are_refused(fresh_plugins):
    class Full:
        name = "full"

        def prepare(self, bundle):
            return bundle

    class Dup:
        @staticmethod
        @benchhub.hookimpl
        def register_methods(register):
            register(Full)

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(Dup, name="dup")
    with pytest.raises(UserError, match="method 'full' is registered twice"):
        fresh_plugins.registry()


def test_unknown_hook_implementation_is_rejected(fresh_plugins):
    import pluggy

    class Typo:
        @staticmethod
        @benchhub.hookimpl
        def register_methodz(register):
            pass

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(Typo, name="typo")
    with pytest.raises(pluggy.PluginValidationError):
        fresh_plugins.pm.check_pending()


def test_blocked_plugins_do_not_load(fresh_plugins, monkeypatch):
    monkeypatch.setenv("BENCHHUB_BLOCK_PLUGINS", "method_lora")
    assert "lora" not in fresh_plugins.registry().names("method")
    assert "full" in fresh_plugins.registry().names("method")


def test_load_only_named_plugins(fresh_plugins, monkeypatch):
    monkeypatch.setenv("BENCHHUB_LOAD_PLUGINS", "method_full")
    assert fresh_plugins.registry().names("method") == ["full"]


def test_unknown_name_suggests(fresh_plugins):
    with pytest.raises(UserError) as info:
        fresh_plugins.registry().get("method", "lorra")
    assert str(info.value) == (
        "unknown method 'lorra'; did you mean 'lora'? available: adalora, domain-head, dora, frozen-top, full, "
        "ia3, loha, lokr, lora, lora-int8, oft, peft, qlora, vera, zero-shot")


def test_plugins_command_lists_everything(fresh_plugins):
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    for needle in ("method_lora", "benchhub 0.1.0", "register_models", "model: blip2"):
        assert needle in result.output


@pytest.mark.parametrize("body,needle", [
    ({}, "registered a method without a `name` attribute"),
    ({"name": "nameless-prepare"}, "registered method 'nameless-prepare' without prepare()"),
])
def test_registered_classes_are_checked(fresh_plugins, body, needle):
    Bad = type("Bad", (), body)
    plugin = types.SimpleNamespace(register_methods=benchhub.hookimpl(lambda register: register(Bad)))
    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(plugin, name="bad")
    fresh_plugins.reset()
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        fresh_plugins.registry()


def test_plain_classes_get_the_documented_defaults(toy):
    """Registration fills in what the base classes document, so the core reads members without probing."""
    explode = benchhub.plugins.registry().get("method", "explode")
    assert explode is toy.Explode and not issubclass(explode, benchhub.Method)
    assert explode.trains is True and explode.freezes == () and explode.quantization is None
    assert explode.after_optimizer_step is benchhub.Method.after_optimizer_step
    assert toy.ToyModel.quantizations == () and toy.ToyModel.prepare is benchhub.Model.prepare
    assert toy.ToyData.vocabulary is benchhub.Dataset.vocabulary
    assert toy.ToyAccuracy.higher_is_better is True and toy.ToyAccuracy.citation == ""
    assert toy.ToyAccuracy.primary == "accuracy"  # what a class defines is kept


def test_classes_for_a_run(toy):
    from benchhub.budget import Budget
    from benchhub.spec import ComponentSpec, RunSpec

    spec = RunSpec(suite="s", method=ComponentSpec("peft:hra"), model=ComponentSpec("toy:wide"),
                   dataset=ComponentSpec("toy-data", {"size": 6}), metrics=("toy-accuracy",), budget=Budget(),
                   seed=0, lr=0.1)
    classes = benchhub.plugins.registry().classes_for(spec)
    assert classes.method.name == "peft" and classes.model is toy.ToyModel and classes.dataset is toy.ToyData
    assert classes.metrics == {"toy-accuracy": toy.ToyAccuracy}
    assert classes.new_method(spec).type == "hra" and classes.new_model(spec).preset == "wide"
    assert classes.new_dataset(spec).size == 6
    assert classes.scoring(spec) == {"primary": "accuracy", "columns": ["accuracy"],
                                     "higher_is_better": {"accuracy": True}}


def test_library_output_to_stderr_never_lands_inside_the_live_display(tmp_path, capfd):
    """Issue 23: on a terminal, a library writing straight to file descriptor 2 (bitsandbytes' warning, a Rust
    progress bar) broke the live progress line; meanwhile it goes to the suite's log, and fd 2 is restored."""
    import os
    import sys

    from rich.console import Console

    from benchhub.progress import Display

    console = Console(stderr=True, force_terminal=True)
    noise = tmp_path / "logs" / "library-output.log"
    with Display(console, total=1, noise=str(noise)) as display:
        os.write(2, b"bitsandbytes: a warning from C\n")
        display.print("finished a run")
    os.write(2, b"after the display\n")
    err = capfd.readouterr().err
    assert noise.read_text() == "bitsandbytes: a warning from C\n"
    assert "a warning from C" not in err
    assert "finished a run" in err and "after the display" in err
    assert console.file is sys.stderr
