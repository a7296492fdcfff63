"""`benchhub predict`: reload a finished run's weights and caption (or classify) new images."""
from __future__ import annotations

from pathlib import Path

from benchhub.errors import RunFailure, UserError, first_line
from benchhub.records import RunRecord, Status


def open_images(images: list[str]) -> list:
    missing = [i for i in images if not Path(i).is_file()]
    if missing:
        raise UserError(f"image '{missing[0]}' does not exist")
    from benchhub.fileio import open_image

    try:
        return [open_image(i) for i in images]
    except (OSError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise UserError(f"cannot read image: {first_line(exc, with_type=False)}") from None


def saved_weights(record: RunRecord, path: Path) -> Path | None:
    """The folder of the run's saved weights, which must lie inside its results directory (the folder that
    holds its record), links resolved: a record never makes benchhub load weights from anywhere else. Weights
    a remote executor left elsewhere (`--executor ray`: its workers or `--artifacts`) are used once copied to
    the place the local executor saves them (`weights/<record name>`)."""
    if not record.weights:
        return None
    root = Path(path).parent.resolve()
    weights = (root / record.weights).resolve()
    if weights.is_relative_to(root):
        return weights
    local = root / "weights" / Path(path).stem
    if local.resolve().is_relative_to(root) and local.is_dir():
        return local
    raise UserError(f"run {record.run_id}'s weights ({record.weights}) are outside its results directory {root}; "
                    f"predict loads weights only from there: copy them to {local}")


def reload_run(record: RunRecord, path: Path, registry, device):
    """The run's bundle rebuilt and its saved weights restored (UserError when that is impossible)."""
    weights = saved_weights(record, path)
    if record.train and (weights is None or not weights.is_dir()):
        raise UserError(f"run {record.run_id} has no saved weights (expected {weights}); re-run it with --force")
    from benchhub.pipeline import build_bundle

    spec = record.spec
    classes = registry.classes_for(spec)
    method = classes.new_method(spec)
    try:
        bundle = build_bundle(spec, classes, method, device)
        if weights is not None:
            bundle.load_trained(weights, method)
    except (RunFailure, OSError, ValueError) as exc:
        raise UserError(f"cannot load run {record.run_id}: {first_line(exc, with_type=False)}") from None
    return bundle


def predict(record: RunRecord, path: Path, images: list[str], batch_size: int, registry) -> list[tuple[str, str]]:
    """(image path, caption or label) for each image."""
    from benchhub.device import select_device
    from benchhub.isolation import quiet_libraries

    if record.status in (Status.FAILED, Status.DOES_NOT_FIT):
        what = "failed" if record.status is Status.FAILED else "did not fit"
        raise UserError(f"run {record.run_id} {what} ({record.error}); there is nothing to predict with")
    pictures = open_images(images)
    quiet_libraries()
    bundle = reload_run(record, path, registry, select_device())
    return list(zip(images, bundle.predict([{"image": p} for p in pictures], batch_size=batch_size)))
