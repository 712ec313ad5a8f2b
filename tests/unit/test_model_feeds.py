"""A model's inputs from named columns: a matrix input's columns in the model's order whatever
the caller's, a whole tensor passed by the input's name, and clear errors naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from flink_jobs.clients.model_feeds import TensorSpec, feed_names, model_arrays, parse_input_columns, with_columns

F32 = np.dtype(np.float32)
MATRIX = TensorSpec("features", F32, (3,), ("amount", "is_ecom", "txn_count_1m"))
PER_COLUMN = (TensorSpec("amount", F32, (1,)), TensorSpec("is_ecom", F32, (1,)))


def test_a_matrix_takes_its_columns_in_the_models_order_whatever_the_callers():
    columns = {"txn_count_1m": np.array([5, 6]), "amount": np.array([1.5, 2.5], F32), "is_ecom": np.array([0, 1.0])}
    columns["is_ecom"] = columns["is_ecom"].astype(F32)
    [(spec, matrix)] = model_arrays("m", [MATRIX], columns, 2)
    assert spec is MATRIX and matrix.dtype == F32
    np.testing.assert_array_equal(matrix, [[1.5, 0, 5], [2.5, 1, 6]])


def test_a_whole_tensor_under_the_inputs_name_is_fed_as_it_is():
    tensor = np.arange(6, dtype=F32).reshape(2, 3)
    [(_, fed)] = model_arrays("m", [MATRIX], {"features": tensor}, 2)
    assert fed is tensor


def test_per_column_inputs_are_shaped_batch_by_one():
    arrays = model_arrays("m", PER_COLUMN, {"amount": np.array([1.0, 2.0], F32), "is_ecom": np.ones(2, F32)}, 2)
    assert [(spec.name, array.shape) for spec, array in arrays] == [("amount", (2, 1)), ("is_ecom", (2, 1))]
    assert feed_names(PER_COLUMN) == ["amount", "is_ecom"] and feed_names([MATRIX]) == list(MATRIX.columns)


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match=r"model m needs input\(s\) is_ecom, txn_count_1m"):
        model_arrays("m", [MATRIX], {"amount": np.ones(2, F32)}, 2)


def test_a_column_that_would_lose_values_is_named():
    columns = {"amount": np.array([0.1, 0.2]), "is_ecom": np.ones(2, F32), "txn_count_1m": np.ones(2, F32)}
    with pytest.raises(ValueError, match=r"column 'amount' is float64"):
        model_arrays("m", [MATRIX], columns, 2)


def test_a_column_of_another_length_is_named():
    columns = {"amount": np.ones(3, F32), "is_ecom": np.ones(2, F32), "txn_count_1m": np.ones(2, F32)}
    with pytest.raises(ValueError, match=r"column 'amount' has 3 rows, the others 2"):
        model_arrays("m", [MATRIX], columns, 2)


def test_columns_that_do_not_fit_the_inputs_width_or_name_no_input_are_refused():
    spec = TensorSpec("features", F32, (2,))
    with pytest.raises(ValueError, match=r"input features has dims \[2\], its 3 columns do not fit"):
        with_columns([spec], {"features": ("a", "b", "c")}, "config")
    with pytest.raises(ValueError, match=r"names other, not among the inputs"):
        with_columns([spec], {"other": ("a", "b")}, "config")
    assert with_columns([spec], {"features": ("a", "b")}, "config")[0].columns == ("a", "b")


@pytest.mark.parametrize("text", ["not json", '["a"]', '{"features": []}', '{"features": [1, 2]}'])
def test_malformed_input_columns_are_refused_naming_where(text):
    with pytest.raises(ValueError, match=r"^model x's config: input_columns"):
        parse_input_columns(text, "model x's config")
