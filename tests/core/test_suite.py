"""Suites: TOML tables and command-line selections -> the validated matrix, before anything runs."""
import pytest

from benchhub import plugins
from benchhub.errors import UserError
from benchhub.spec import ComponentSpec
from benchhub.suite import baseline_of, load_suite, plan, resolve, suite_from_dict

BASE = {"suite": {"name": "s", "methods": ["zero-shot", "lora(r=4)", "full"], "models": ["blip2:tiny"],
                  "metrics": ["coco-caption(meteor=false)"]},
        "dataset": {"name": "shapes", "train_size": 8}, "budget": {"effective_batch": 4, "micro_batch": 2},
        "methods": {"full": {"lr": 1e-3}}}


def _suite(**head):
    return suite_from_dict({**BASE, "suite": {**BASE["suite"], **head}})


def test_unknown_suite_keys_are_refused():
    with pytest.raises(UserError, match="unknown \\[suite\\] key 'method'; did you mean 'methods'\\? available: augment, baseline"):
        _suite(method=["full"])


def test_baseline_is_one_of_the_suites_methods():
    assert _suite().baseline is None and _suite(baseline="full").baseline == "full"
    assert _suite(baseline="lora(r=4)").baseline == "lora(r=4)"
    with pytest.raises(UserError, match="baseline must be one of the suite's methods"):
        _suite(baseline="lora")


def test_baseline_defaults_to_the_first_method_that_does_not_train():
    registry = plugins.registry()
    assert baseline_of(_suite(), registry) == "zero-shot"
    assert baseline_of(_suite(baseline="full"), registry) == "full"
    assert baseline_of(_suite(methods=["full", "lora"]), registry) is None
    assert load_suite("tiny").baseline == "zero-shot"


def test_plan_resolves_options_and_learning_rates():
    matrix = plan(_suite(seeds=[0, 1]), plugins.registry())
    # a method that does not train runs once: seeds cannot change it
    assert [(s.method_label, s.seed) for s in matrix.specs] == [
        ("zero-shot", 0), ("lora(r=4)", 0), ("lora(r=4)", 1), ("full", 0), ("full", 1)]
    assert matrix.count() == 5 and all(len(c.grid) == 1 for c in matrix.cells)
    full = matrix.specs[-1]
    assert full.lr == 1e-3 and full.method == ComponentSpec("full") and full.metrics == ("coco-caption(meteor=false)",)
    assert matrix.specs[1].lr == plugins.registry().get("method", "lora").default_lr
    assert full.dataset == ComponentSpec("shapes", {"train_size": 8}) and not matrix.skipped


def test_resolve_applies_the_command_line(tmp_path):
    registry = plugins.registry()
    suite, matrix = resolve(registry, "tiny", methods="lora,dora(r=2)", seeds=(3,),
                            budget_changes={"effective_batch": 2, "max_steps": None})
    assert [s.method_label for s in matrix.specs] == ["lora", "dora(r=2)"]
    assert {s.seed for s in matrix.specs} == {3}
    assert (suite.budget.effective_batch, suite.budget.micro_batch, suite.budget.max_steps) == (2, 2, 20)
    assert matrix.specs[0].lr == 5e-3  # the suite's [methods.lora] still applies


def test_none_clears_a_limit_the_suite_sets():
    """`--max-seconds none` (like `--memory-limit none`) removes the suite's limit (issue 15)."""
    from benchhub.budget import NO_LIMIT, Budget
    from benchhub.suite import override_budget

    budget = Budget(max_seconds=30.0)
    assert override_budget(budget, max_seconds=NO_LIMIT).max_seconds is None
    assert override_budget(budget, max_seconds=None).max_seconds == 30.0  # not given: the suite's


def test_a_model_variant_given_as_its_option_is_the_same_model(tmp_path):
    """Issue 23: `--models 'blip2(preset=tiny)'` and the suite's `blip2:tiny` resolve to one spec and run id, and
    the suite's `[models."blip2:tiny"]` table applies to both; a `[models.blip2]` table applies to every blip2."""
    registry = plugins.registry()
    table = {"models": {"blip2:tiny": {"layers": 1}}}
    by_name = plan(suite_from_dict({**BASE, **table}), registry).specs[0]
    as_option = plan(suite_from_dict({**BASE, **table, "suite": {**BASE["suite"], "models": ["blip2(preset=tiny)"]}}),
                     registry).specs[0]
    assert as_option.model == by_name.model == ComponentSpec("blip2:tiny", {"layers": 1})
    assert as_option == by_name and as_option.config_hash({}) == by_name.config_hash({})  # the run id's hash
    both = plan(suite_from_dict({**BASE, "suite": {**BASE["suite"], "models": ["blip2:tiny", "blip2(preset=tiny)"]}}),
                registry)
    assert len({s.model.label() for s in both.specs}) == 1 and both.count() == plan(_suite(), registry).count()
    plugin_wide = plan(suite_from_dict({**BASE, "models": {"blip2": {"layers": 1}}}), registry).specs[0]
    assert plugin_wide.model == ComponentSpec("blip2:tiny", {"layers": 1})


def test_checkpoint_every_is_read_from_budget_but_changes_no_run_id():
    """Issue 24: how often a run saves its training state is not part of the budget: a resumed run computes what an
    uninterrupted one does, so the run ids stay."""
    registry = plugins.registry()
    every = suite_from_dict({**BASE, "budget": {**BASE["budget"], "checkpoint_every": 50}})
    assert every.checkpoint_every == 50 and every.budget == _suite().budget
    assert plan(every, registry).specs[0].config_hash({}) == plan(_suite(), registry).specs[0].config_hash({})
    for bad in (0, True, 2.5, "10", 10**10):
        with pytest.raises(UserError, match="checkpoint_every must be an integer from 1 to 1000000000"):
            suite_from_dict({**BASE, "budget": {**BASE["budget"], "checkpoint_every": bad}})
