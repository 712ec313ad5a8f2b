"""Keys that Flink routes to distinct subtasks, one per parallel instance.

A keyed stream goes through key groups: a key's group is Flink's murmur hash of the key's Java
hashCode modulo the max parallelism, and a group's subtask is group * parallelism //
max_parallelism. PyFlink's key_by(..., key_type=Types.INT()) keys the Java side by a one-field
Row holding the int, whose hashCode is 62 + the int (Flink 1.20's Row.hashCode: the row kind
and the field). Keying by `card_id % parallelism` therefore does not give each subtask a key
(at parallelism 2, keys 0 and 1 both land on subtask 0). The operators that batch per key
(scoring, the Feast push) take bucket keys from here instead: bucket i is a key that Flink
sends to subtask i.
"""

from __future__ import annotations

from collections.abc import Callable

_MASK = 0xFFFFFFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def _murmur_hash(code: int) -> int:
    """Flink's MathUtils.murmurHash(int): non-negative."""
    code = (code * 0xCC9E2D51) & _MASK
    code = _rotl(code, 15)
    code = (code * 0x1B873593) & _MASK
    code = _rotl(code, 13)
    code = (code * 5 + 0xE6546B64) & _MASK
    code ^= 4
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & _MASK
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & _MASK
    code ^= code >> 16
    signed = code - (1 << 32) if code & 0x80000000 else code
    return abs(signed) if signed != -(1 << 31) else 0


_ONE_FIELD_ROW_HASH = 62  # Row.of(k).hashCode() - Integer.hashCode(k)


def key_group(key: int, max_parallelism: int) -> int:
    """The key group of an int key of a PyFlink keyed stream (key_type=Types.INT())."""
    return _murmur_hash((_ONE_FIELD_ROW_HASH + key) & _MASK) % max_parallelism


def subtask_of(key: int, parallelism: int, max_parallelism: int) -> int:
    return key_group(key, max_parallelism) * parallelism // max_parallelism


def subtask_keys(parallelism: int, max_parallelism: int) -> tuple[int, ...]:
    """For each subtask index i, the smallest non-negative int key Flink routes to subtask i."""
    if not 1 <= parallelism <= max_parallelism:
        raise ValueError(f"parallelism {parallelism} must be in 1..max_parallelism ({max_parallelism})")
    keys: dict[int, int] = {}
    candidate = 0
    while len(keys) < parallelism:
        keys.setdefault(subtask_of(candidate, parallelism, max_parallelism), candidate)
        candidate += 1
    return tuple(keys[index] for index in range(parallelism))


def bucket_key(parallelism: int, max_parallelism: int) -> Callable[[int], int]:
    """The batching key of an entity id (a card): one key per subtask, an id always to the same one."""
    keys = subtask_keys(parallelism, max_parallelism)
    return lambda entity_id: keys[entity_id % len(keys)]
