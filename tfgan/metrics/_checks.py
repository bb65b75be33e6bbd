"""Private input-validation helpers shared by the ``tfgan.metrics`` modules.

Every helper raises ``ValueError`` whose message names the offending argument,
the value (or a summary of it) that was received, and what would be valid.
"""

import numbers

import numpy as np


def _describe(value):
    """Returns a short description of `value` for error messages."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.ndim == 0 or arr.size <= 6:
        return repr(value if arr.ndim == 0 else arr.tolist())
    return "array of shape {}".format(arr.shape)


def as_float_array(value, name, ndim=None, min_rows=None):
    """Converts `value` to a finite float64 array and checks its rank.

    Args:
      value: array_like.
      name: Argument name used in error messages.
      ndim: Required number of dimensions, or None for any.
      min_rows: If given, the minimum size of the leading axis.

    Returns:
      np.ndarray of dtype float64.

    Raises:
      ValueError: If `value` is not numeric, has the wrong rank, too few rows,
        or contains NaN/inf.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("`{}` must be a numeric array, got {!r} ({}).".format(name, value, e)) from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError("`{}` must be a {}-D array, got shape {}.".format(name, ndim, arr.shape))
    if min_rows is not None and (arr.ndim == 0 or arr.shape[0] < min_rows):
        raise ValueError("`{}` must have at least {} rows, got shape {}.".format(name, min_rows, arr.shape))
    if not np.all(np.isfinite(arr)):
        raise ValueError("`{}` must contain only finite values, got {}.".format(name, _describe(arr)))
    return arr


def as_probability_vector(value, name):
    """Converts non-negative weights to a normalised float64 distribution.

    The whole array (any shape) is treated as a single discrete distribution
    and divided by its total.

    Args:
      value: array_like of non-negative finite weights, at least one element.
      name: Argument name used in error messages.

    Returns:
      np.ndarray (same shape, float64) summing to 1.

    Raises:
      ValueError: If `value` is empty, has negative or non-finite entries, or
        sums to zero.
    """
    arr = as_float_array(value, name)
    if arr.size == 0:
        raise ValueError("`{}` must have at least one element, got shape {}.".format(name, arr.shape))
    if np.any(arr < 0):
        raise ValueError("`{}` must be non-negative, got {} (min {}).".format(name, _describe(arr), arr.min()))
    total = arr.sum()
    if not total > 0:
        raise ValueError("`{}` must have a positive sum, got {} (sum {}).".format(name, _describe(arr), total))
    return arr / total


def check_same_shape(a, a_name, b, b_name):
    """Raises ValueError unless `a` and `b` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            "`{}` and `{}` must have the same shape, got {} and {}.".format(a_name, b_name, a.shape, b.shape)
        )


def check_int(value, name, minimum=None, maximum=None):
    """Checks that `value` is an integer in [minimum, maximum] and returns it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError("`{}` must be an integer, got {!r}.".format(name, value))
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError("`{}` must be >= {}, got {}.".format(name, minimum, value))
    if maximum is not None and value > maximum:
        raise ValueError("`{}` must be <= {}, got {}.".format(name, maximum, value))
    return value


def check_positive(value, name):
    """Checks that `value` is a finite real number > 0 and returns it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("`{}` must be a positive real number, got {!r}.".format(name, value))
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError("`{}` must be a finite number > 0, got {!r}.".format(name, value))
    return value


def check_log_base(base):
    """Returns log(base) (1.0 for None) after validating `base`."""
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise ValueError("`base` must be None or a real number > 0 and != 1, got {!r}.".format(base))
    base = float(base)
    if not (np.isfinite(base) and base > 0 and base != 1.0):
        raise ValueError("`base` must be None or a finite number > 0 and != 1, got {!r}.".format(base))
    return float(np.log(base))
