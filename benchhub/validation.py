"""Plan-time checks: every suite table, option, learning-rate grid, metric and data file is validated (one
line, exit 2) before anything runs."""
from __future__ import annotations

import math
import os

from benchhub.errors import RunFailure, UserError
from benchhub.spec import ComponentSpec, check_options, instantiate, parse_component


def metrics(suite, registry, task: str) -> tuple[str, ...]:
    """The suite's metric labels, validated against the dataset's task (default: the first metric for it)."""
    for label in suite.metrics:
        metric = parse_component(label)
        metric_cls = registry.get_variant("metric", metric.name)
        check_options("metric", metric_cls, metric.name, metric.options)
        metric_task = instantiate(metric_cls, metric.name, metric.options).task
        if metric_task != task:
            raise UserError(f"metric '{metric.name}' scores task '{metric_task}', but dataset "
                            f"'{suite.dataset.name}' is task '{task}'")
    if suite.metrics:
        return tuple(parse_component(m).label() for m in suite.metrics)
    return tuple(n for n in registry.names("metric") if registry.get("metric", n).task == task)[:1]


def lr_grid(method: ComponentSpec, method_cls: type, options: dict) -> tuple[float, ...]:
    """The method's learning rate, or its grid (`lr = [1e-4, 3e-4]`): finite, non-negative, distinct."""
    lr = options.pop("lr", method_cls.default_lr)
    grid = lr if isinstance(lr, list) else [lr]
    for value in grid:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserError(f"method '{method.label()}': lr must be a finite non-negative number (or a list of "
                            f"them), got {value!r}")
    if not grid:
        raise UserError(f"method '{method.label()}': an lr grid needs at least one value, got []")
    if len(set(grid)) != len(grid):
        raise UserError(f"method '{method.label()}': an lr grid needs distinct values, got {lr!r}")
    if len(grid) > 1 and not method_cls.trains:
        raise UserError(f"method '{method.label()}' does not train; it takes no learning-rate grid")
    return tuple(float(v) for v in grid)


def check_option_tables(suite, registry) -> None:
    """Every [methods.X] / [models.X] table names a registered method / model (else it would silently do nothing)."""
    for kind, tables in (("method", suite.method_options), ("model", suite.model_options)):
        for key, options in tables.items():
            try:
                cls = registry.get_variant(kind, key)
                plugin_call(kind, key, "__init__", check_options, kind, cls, key,
                            {k: v for k, v in options.items() if not (kind == "method" and k == "lr")},
                            module=cls.__module__)
            except UserError as exc:  # an option no entry would take is refused, never silently ignored
                raise UserError(f"suite {suite.source}: [{kind}s.{key}] table: {exc}") from exc.__cause__


def meta_bundle(model_cls: type, name: str, options: dict):
    """The model's bundle on the meta device, built on first call (for methods' plan-time checks)."""
    built: list = []

    def get():
        if not built:
            from benchhub.isolation import quiet_libraries

            quiet_libraries()
            built.append(_meta(model_cls, name, options))
        return built[0]

    return get


def plugin_call(kind: str, name: str, hook: str, call, *args, hint: str = "", module: str | None = None):
    """`call(*args)`, a plugin's hook at plan time: a UserError passes as it is; any other exception (a plugin's
    bug) becomes one line naming the plugin, its module and the hook, its traceback kept as the cause (printed by
    `benchhub --verbose`)."""
    try:
        return call(*args)
    except (UserError, RunFailure):
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's bug: one line naming it, not a traceback
        owner = getattr(call, "__self__", None)
        module = module or getattr(owner if owner is not None else call, "__module__", None) or "?"
        message = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{kind} '{name}' ({module}): its {hook} raised {type(exc).__name__}: {message}{hint} "
                        "(benchhub --verbose prints the traceback)") from exc


def _meta(model_cls: type, name: str, options: dict):
    """The model's bundle on the meta device; what libraries print meanwhile (a tokenizer's progress bar on first
    use) is dropped: plan time prints only benchhub's own lines."""
    from benchhub.progress import stderr_to

    with stderr_to(os.devnull):
        return plugin_call("model", name, "meta_bundle()", instantiate(model_cls, name, options).meta_bundle)


def check_method(method, meta_bundle) -> None:
    """The method's own checks against the model; a model without a meta bundle is checked at run time."""
    try:
        plugin_call("method", getattr(method, "name", type(method).__name__), "check(meta_bundle)",
                    getattr(method, "check", lambda _: None), meta_bundle,
                    hint=" (meta_bundle is a function: call meta_bundle() for the bundle)")
    except RunFailure:
        pass


def check_head(method, label: str, model_cls: type, model: str, options: dict, task: str) -> None:
    """A classification run must train the model's labelled head: fine-tuning on a label set the checkpoint was
    not trained on starts from an untrained head, and a method that leaves it frozen scores like zero-shot (0.000
    on vit-digits' new labels). Checked at plan time on a fresh meta bundle (no weights) with the method applied."""
    if task != "classify" or not getattr(method, "trains", False):
        return
    bundle = _meta(model_cls, model, options)
    if bundle is None or not getattr(bundle, "labelled_head", False):
        return
    import warnings

    from benchhub.progress import stderr_to

    try:
        with warnings.catch_warnings(), stderr_to(os.devnull):  # library notices: not for plan time's terminal
            warnings.simplefilter("ignore")
            prepared = plugin_call("method", label, "prepare(meta bundle)", method.prepare, bundle) or bundle
    except RunFailure:  # a method that needs real weights to prepare is checked when it runs
        return
    head = prepared.head()
    if not any(p.requires_grad for p in head.parameters()):
        raise UserError(f"method '{label}' leaves {model}'s labelled head ({bundle.module_name(bundle.head())}) "
                        "frozen, so it cannot learn the dataset's labels and would score like zero-shot; train the "
                        "head too (e.g. frozen-top(head=true), or PEFT modules_to_save), or use a method that "
                        "replaces it (domain-head)")


def check_data(dataset, strict: bool) -> str | None:
    """The dataset's own checks of its files: a UserError, or (not strict: a dry run) the problem in words."""
    try:
        plugin_call("dataset", getattr(dataset, "name", type(dataset).__name__), "check()", dataset.check)
    except UserError as exc:
        if strict:
            raise
        return str(exc)
    return None


def augment_list(text: str) -> tuple:
    """`--augment none,light`: the policies, in order."""
    from benchhub.spec import parse_component_list

    policies = parse_component_list(text)
    if not policies:
        raise UserError(f"--augment: empty list '{text}'; name at least one policy, e.g. none,light")
    return tuple(policies)


def augment_policies(augments: tuple, registry, dataset_cls: type, dataset_name: str) -> list:
    """A suite's augmentation policies, checked (their options, and labels the dataset could not keep true:
    `augment.conflicts`); None for `none`, so a run without augmentation keeps its config and run id."""
    from benchhub.augment import conflicts

    out = []
    for policy in augments:
        cls = registry.get_variant("augmentation", policy.name)
        plugin_call("augmentation", policy.name, "__init__", check_options, "augmentation", cls, policy.name,
                    policy.options, module=cls.__module__)
        problem = conflicts(cls, policy.label(), dataset_cls, dataset_name)
        if problem:
            raise UserError(problem)
        out.append(None if policy.name == "none" else policy)
    return out


def select(requested: str | None, available: tuple) -> tuple | None:
    """`--methods lora,full`: suite entries matching a label or name, else a new component."""
    if requested is None:
        return None
    from benchhub.spec import parse_component_list

    specs = parse_component_list(requested)
    if not specs:
        raise UserError(f"empty list '{requested}'; name at least one, e.g. lora,full")
    out = []
    for spec in specs:
        exact = [s for s in available if s.label() == spec.label()]
        by_name = [s for s in available if s.name == spec.name] if not spec.options else []
        out += [s for s in exact or by_name or [spec] if s not in out]
    return tuple(out)


def train_sizes(sizes: tuple) -> tuple:
    """`--train-sizes 30,100,300`: distinct positive sizes."""
    if any(n < 1 for n in sizes):
        raise UserError(f"--train-sizes: sizes are numbers of training examples, at least 1; got {min(sizes)}")
    from benchhub.schemas import repeated

    twice = repeated(sizes)
    if twice is not None:
        raise UserError(f"--train-sizes: {twice} is listed twice; each size is one data budget")
    return tuple(sizes)


def check_train_sizes(sizes: tuple, dataset, name: str) -> None:
    """Data budgets no larger than the dataset's training split, where it says how large that is (`train_size`);
    otherwise a run whose budget is larger fails with that reason (`subsets.subset`)."""
    have = getattr(dataset, "train_size", None)
    if sizes and isinstance(have, int) and max(sizes) > have:
        raise UserError(f"train size {max(sizes)} is more than dataset '{name}' has ({have} training examples; raise "
                        f"its train_size or choose smaller sizes)")
