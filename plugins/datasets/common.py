"""Validation shared by the built-in dataset plugins."""
import benchhub


def check_sizes(dataset: str, **sizes) -> None:
    """Each size must be a positive integer up to MAX_SIZE (None means no cap)."""
    for key, value in sizes.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_SIZE):
            raise benchhub.UserError(f"dataset {dataset}: {key} must be an integer from 1 to {MAX_SIZE}, "
                                     f"got {value!r}")


MAX_SIZE = 10**7  # examples in one split: far above what a CPU or GPU benchmark trains on
