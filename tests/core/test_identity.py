"""A run's identity: the code it executed, its checkpoint and machine; what changes it and what does not."""
import json
import subprocess
import sys
import textwrap

import pytest

from benchhub import identity, reuse
from benchhub.checkpoints import cached_checkpoint, current


def test_run_code_never_imports_presentation_modules():
    """What a run's child imports (the pipeline, the isolation tasks, every built-in plugin) never reaches the
    CLI, reports, statistics or compare: changing those must not re-run anything."""
    probe = textwrap.dedent("""
        import importlib, json, pkgutil, sys
        import benchhub.pipeline, benchhub.isolation, benchhub.identity, benchhub.checkpoints
        import benchhub_plugins
        from benchhub import plugins
        plugins.registry()
        for info in pkgutil.walk_packages(benchhub_plugins.__path__, "benchhub_plugins."):
            importlib.import_module(info.name)
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("benchhub"))))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "benchhub.train" in loaded and "benchhub_plugins.models.blip2" in loaded
    assert [m for m in loaded if identity.presentation(m)] == []


def test_loaded_code_leaves_out_presentation_and_names_numerics():
    import benchhub.cli  # noqa: F401 - loaded here, as in a child that re-imported the CLI script
    import benchhub.report.markdown  # noqa: F401
    import benchhub.train  # noqa: F401

    code = identity.loaded_code()
    assert "benchhub.train" in code and code["benchhub.train"] == identity.file_hash(
        identity.module_file("benchhub.train"))
    assert not [m for m in code if m.startswith(("benchhub.cli", "benchhub.report", "benchhub.stats"))]


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A plugin package of our own on sys.path: its files can be edited like a developer would."""
    root = tmp_path / "toycode"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "loop.py").write_text("STEP = 1\n")
    (root / "view.py").write_text("WIDTH = 80\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    identity._package_dir.cache_clear()
    import toycode.loop  # noqa: F401

    yield root
    for name in [m for m in sys.modules if m.startswith("toycode")]:
        del sys.modules[name]
    identity._package_dir.cache_clear()


def test_code_changes_follow_the_modules_a_run_loaded(package):
    recorded = identity.loaded_code(["toycode"])
    assert set(recorded) >= {"toycode", "toycode.loop"} and "toycode.view" not in recorded
    assert identity.code_changes(recorded) == []
    (package / "view.py").write_text("WIDTH = 120\n")  # not loaded by the run: nothing to re-run
    assert identity.code_changes(recorded) == []
    (package / "loop.py").write_text("STEP = 2\n")  # the run executed it: its records are stale
    assert identity.code_changes(recorded) == ["toycode.loop"]
    (package / "loop.py").unlink()
    assert identity.code_changes(recorded) == ["toycode.loop"]


def _identity(**changes):
    base = {"benchhub": "0.1.0", "plugins": {"benchhub_plugins": {"package": "benchhub", "version": "0.1.0"}},
            "machine": {"cpu": "X", "cpu_capability": "AVX512", "cpu_isa": "avx avx2 avx512f"},
            "checkpoint": {"key": "blip2-tiny-abc", "sha256": "1" * 64},
            "code": identity.module_hashes(["benchhub.train"])}
    return {**base, **changes}


def test_changes_name_what_differs():
    stored = _identity()
    assert reuse.changes(stored, _identity()) == []
    assert reuse.changes(None, _identity()) == ["recorded before benchhub kept the code a run executed"]
    assert reuse.changes(stored, _identity(machine={**stored["machine"], "cpu_capability": "AVX2"})) == [
        "machine: cpu capability AVX512 → AVX2"]
    isa = reuse.changes(stored, _identity(machine={**stored["machine"], "cpu_isa": "avx avx2 amx_tile"}))
    assert isa == ["machine: CPU instruction set differs (without avx512f, with amx_tile)"]
    assert reuse.changes(stored, _identity(checkpoint={"key": "blip2-tiny-def"})) == [
        "checkpoint blip2-tiny-abc → blip2-tiny-def"]
    assert reuse.changes(stored, _identity(checkpoint={"key": "blip2-tiny-abc", "sha256": "2" * 64})) == [
        "checkpoint weights differ: sha256 111111111111 → 222222222222"]
    # a checkpoint not made on this machine yet: its key decides (the sha256 is compared once it exists)
    assert reuse.changes(stored, _identity(checkpoint={"key": "blip2-tiny-abc"})) == []
    edited = {**stored, "code": {**stored["code"], "benchhub.train": "000000000000"}}
    assert reuse.changes(edited, _identity()) == ["code changed: benchhub.train"]


def test_environment_changes():
    old = {"device": "CPU A (2 cores)", "versions": {"torch": "2.13.0", "peft": "0.21.2"}}
    new = {"device": "CPU B (2 cores)", "versions": {"torch": "2.13.0", "peft": "0.22.0"}}
    assert reuse.environment_changes(old, new) == ["device CPU A (2 cores) → CPU B (2 cores)", "peft 0.21.2 → 0.22.0"]


def test_machine_names_the_instruction_set():
    found = identity.machine()
    import torch

    assert found["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert found["cpu"] and "gpu" not in found


def test_a_checkpoint_made_by_other_code_is_made_again(tmp_path, package):
    target = tmp_path / "cache" / "toy-123"
    made = []

    def make(tmp):
        made.append(1)
        (tmp / "model.safetensors").write_bytes(b"weights %d" % len(made))
        return {"final_loss": 0.5}

    first = cached_checkpoint(target, make, tops=["toycode"])
    assert first["cached"] is False and first["code"]["toycode.loop"] and len(first["sha256"]) == 64
    assert cached_checkpoint(target, make, tops=["toycode"])["cached"] is True and len(made) == 1
    (package / "loop.py").write_text("STEP = 3\n")  # the code that made it changed: never picked up again
    assert current(target) is None
    again = cached_checkpoint(target, make, tops=["toycode"])
    assert again["cached"] is False and len(made) == 2 and again["sha256"] != first["sha256"]
    assert again["remade"] == "code changed: toycode.loop" and "remade" not in first
    assert not list(target.parent.glob("*.tmp*"))  # nothing left aside


def test_a_plugins_helper_modules_count_as_its_code(monkeypatch):
    """A plugin distribution that ships a helper module beside its package: both are the plugin's code."""
    monkeypatch.setattr(identity, "_distributions", lambda: {
        "myplug": ["my-dist"], "myplug_util": ["my-dist"], "unrelated": ["other"], "benchhub": ["benchhub"],
        "benchhub_plugins": ["benchhub"]})
    cls = type("Method", (), {"__module__": "myplug.methods"})
    assert identity.tops_of([cls]) == ["myplug", "myplug_util"]
    from benchhub_plugins.models.blip2 import Blip2

    assert identity.tops_of([Blip2]) == ["benchhub", "benchhub_plugins"]
