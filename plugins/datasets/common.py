"""Validation shared by the built-in dataset plugins."""
import benchhub


def check_sizes(dataset: str, **sizes) -> None:
    """Each size must be a positive integer (None means no cap)."""
    for key, value in sizes.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise benchhub.UserError(f"dataset {dataset}: {key} must be a positive integer, got {value!r}")
