"""Bucket keys land on distinct subtasks by Flink's own key-group assignment.

The expected tables are Flink 1.20.5's `KeyGroupRangeAssignment` on the keys a PyFlink
key_by(..., key_type=Types.INT()) gives the Java side, one-field Rows, for ints 0..23 and max
parallelism 128 (jshell with the wheel's flink-dist jar on the class path:
`KeyGroupRangeAssignment.assignKeyToParallelOperator(Row.of(Integer.valueOf(k)), 128, p)`); a
PyFlink job at parallelism 2 printing each key's subtask index agreed with the p=2 row."""

from __future__ import annotations

import pytest

from flink_jobs.subtask_keys import bucket_key, key_group, subtask_keys, subtask_of

FLINK_KEY_GROUPS = [
    *(33, 44, 97, 104, 17, 17, 125, 17, 80, 119, 45, 37),
    *(42, 32, 57, 53, 56, 107, 109, 5, 113, 84, 64, 12),
]
FLINK_SUBTASKS = {
    2: [0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0],
    3: [0, 1, 2, 2, 0, 0, 2, 0, 1, 2, 1, 0, 0, 0, 1, 1, 1, 2, 2, 0, 2, 1, 1, 0],
    4: [1, 1, 3, 3, 0, 0, 3, 0, 2, 3, 1, 1, 1, 1, 1, 1, 1, 3, 3, 0, 3, 2, 2, 0],
    8: [2, 2, 6, 6, 1, 1, 7, 1, 5, 7, 2, 2, 2, 2, 3, 3, 3, 6, 6, 0, 7, 5, 4, 0],
}


def test_key_groups_and_subtasks_are_flinks():
    assert [key_group(k, 128) for k in range(24)] == FLINK_KEY_GROUPS
    for parallelism, expected in FLINK_SUBTASKS.items():
        assert [subtask_of(k, parallelism, 128) for k in range(24)] == expected, parallelism


def test_modulo_keys_collide_and_subtask_keys_do_not():
    assert {subtask_of(k, 2, 128) for k in range(2)} == {0}  # card_id % 2 used one subtask of two
    for parallelism in (1, 2, 3, 4, 8, 32, 128):
        keys = subtask_keys(parallelism, 128)
        assert [subtask_of(k, parallelism, 128) for k in keys] == list(range(parallelism))


def test_another_max_parallelism_and_a_bad_parallelism():
    keys = subtask_keys(6, 256)
    assert [subtask_of(k, 6, 256) for k in keys] == list(range(6))
    with pytest.raises(ValueError, match=r"must be in 1\.\.max_parallelism"):
        subtask_keys(200, 128)


def test_an_entity_always_gets_the_same_bucket_and_every_subtask_gets_some():
    bucket = bucket_key(4, 128)
    keys = [bucket(card) for card in range(1000)]
    assert keys == [bucket(card) for card in range(1000)]
    assert sorted({subtask_of(k, 4, 128) for k in keys}) == [0, 1, 2, 3]
