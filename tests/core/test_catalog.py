"""`benchhub methods|models|datasets|metrics [NAME]` and `benchhub suites`: what is installed, from the plugins'
own signatures and docstrings (issue 15)."""
import json

import pytest

from benchhub import catalog, plugins
from cli_helpers import assert_one_line_error, invoke


@pytest.mark.parametrize("kind", ["method", "model", "dataset", "metric"])
def test_every_builtin_option_has_a_type_a_default_and_help(fresh_plugins, kind):
    registry = plugins.registry()
    for name in registry.names(kind):
        if registry.owners[(kind, name)].startswith("toy"):
            continue
        described = catalog.details(registry, kind, name)
        assert described["summary"], name
        for option in described["options"]:
            assert option["type"] and option["default"] and option["help"], (name, option)


def test_methods_lists_every_method_and_one_methods_options(fresh_plugins):
    listed = invoke("methods", "--json")
    assert listed.exit_code == 0, listed.output
    names = {row["name"] for row in json.loads(listed.output)}
    assert {"zero-shot", "full", "lora", "qlora", "dora", "frozen-top", "domain-head"} <= names
    lora = json.loads(invoke("methods", "lora", "--json").output)
    r = next(o for o in lora["options"] if o["name"] == "r")
    assert (r["type"], r["default"]) == ("an integer", "8") and "rank" in r["help"]
    assert lora["default_lr"] == 2e-4
    text = invoke("methods", "frozen-top").output
    assert "k " in text and "how many of the tower's top blocks train" in text and "--methods 'frozen-top(k=" in text
    dora = json.loads(invoke("methods", "dora", "--json").output)  # peft's LoraConfig fields, from peft itself
    assert {"r", "lora_alpha", "use_dora"} <= {o["name"] for o in dora["options"]}
    blip2 = json.loads(invoke("models", "blip2:opt-2.7b", "--json").output)  # a preset names its model
    assert "opt-2.7b" in blip2["presets"] and {"preset", "max_new_tokens", "hidden"} <= {o["name"] for o in
                                                                                        blip2["options"]}
    assert_one_line_error(invoke("methods", "lorra"), "unknown method 'lorra'; did you mean 'lora'?")


def test_a_third_party_plugin_is_listed_like_a_builtin(toy):
    datasets = json.loads(invoke("datasets", "--json").output)
    assert any(row["plugin"] == "toyplugin" for row in datasets)
    methods = json.loads(invoke("methods", "--json").output)
    assert any(row["plugin"] == "toyplugin" for row in methods)


def test_suites_lists_the_suites_run_finds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "mine.toml").write_text('[suite]\ndescription = "my own"\nmethods = ["full"]\n'
                                                       'models = ["vit:tiny"]\n')
    found = {s["name"]: s for s in json.loads(invoke("suites", "--json").output)}
    assert {"default", "tiny", "vit-digits", "vqa-shapes", "mine"} <= set(found)
    assert found["mine"]["description"] == "my own" and found["tiny"]["models"] == ["blip2:tiny"]
    assert "smoke test" in invoke("suites").output
