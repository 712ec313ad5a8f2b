package io.github.pyflinkrealtimeai.batching;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.runtime.io.network.api.writer.ResultPartitionWriter;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.Output;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Items waiting in batches, one per key group of their entity, for a keyed operator downstream:
 * each batch goes out as {@code Row(key, [item, ...])}, where {@code key} is a one-field-row key
 * that Flink assigns to that key group, so the keyed operator sees every item of an entity under
 * the same key, keeps the entity's state in a map state under it, and a rescale moves the state
 * with its key group.
 *
 * <p>A flush ends with an empty batch, the flush's end, to each downstream subtask that got
 * batches in it: it travels on the same channel as they do, so it arrives after them, and a
 * {@link BatchMerger} after the keyed operator merges exactly one flush's batches, however many
 * key groups they span.
 */
public final class KeyGroupRouting {
    private final String entityField;
    private final JsonFactory json = new JsonFactory();
    private final int maxParallelism;
    private final int[] keys;
    private final int[] flushEndKeys; // per downstream subtask, a key it owns
    private final int[] subtaskOfGroup;
    private final boolean[] subtaskGotBatches;
    private final List<List<String>> waiting;
    private int count;

    /**
     * Items whose entity is their top-level integer field {@code entityField}, for the keyed
     * operator after {@code operator}'s task, at that task's one output's parallelism.
     */
    KeyGroupRouting(String entityField, int maxParallelism, AbstractStreamOperator<?> operator) {
        this.entityField = entityField;
        this.maxParallelism = maxParallelism;
        keys = keyGroupKeys(maxParallelism);
        int subtasks = downstreamParallelism(operator, maxParallelism);
        flushEndKeys = new int[subtasks];
        for (int subtask = 0; subtask < subtasks; subtask++) {
            int first = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxParallelism, subtasks, subtask)
                    .getStartKeyGroup();
            flushEndKeys[subtask] = keys[first];
        }
        subtaskOfGroup = new int[maxParallelism];
        for (int group = 0; group < maxParallelism; group++) {
            subtaskOfGroup[group] = KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup(maxParallelism, subtasks, group);
        }
        subtaskGotBatches = new boolean[subtasks];
        waiting = new ArrayList<>(maxParallelism);
        for (int i = 0; i < maxParallelism; i++) {
            waiting.add(new ArrayList<>());
        }
    }

    /** For each key group, the smallest non-negative int whose one-field-row key Flink assigns to it. */
    public static int[] keyGroupKeys(int maxParallelism) {
        int[] keys = new int[maxParallelism];
        boolean[] found = new boolean[maxParallelism];
        int left = maxParallelism;
        for (int candidate = 0; left > 0; candidate++) {
            int group = KeyGroupRangeAssignment.assignToKeyGroup(Row.of(candidate), maxParallelism);
            if (!found[group]) {
                found[group] = true;
                keys[group] = candidate;
                left--;
            }
        }
        return keys;
    }

    /** The key group of an entity id, as Flink would assign the id itself. */
    public static int keyGroupOf(long entity, int maxParallelism) {
        return KeyGroupRangeAssignment.assignToKeyGroup(entity, maxParallelism);
    }

    /**
     * The keyed operator's parallelism: the subpartitions of this chain's one output. With more
     * outputs than one (not this project's graphs), each key group counts as a subtask of its own:
     * a flush end per key group that got a batch, still correct, only more calls.
     */
    private static int downstreamParallelism(AbstractStreamOperator<?> operator, int maxParallelism) {
        ResultPartitionWriter[] writers = operator.getContainingTask().getEnvironment().getAllWriters();
        return writers.length == 1 ? writers[0].getNumberOfSubpartitions() : maxParallelism;
    }

    /**
     * The entity of an item: its top-level integer {@code entityField}, read with a streaming
     * parser that stops at it; null when the text is not a JSON object, lacks it or holds another
     * type there.
     */
    Long entityOf(String text) {
        try (JsonParser parser = json.createParser(text)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.getCurrentName();
                JsonToken value = parser.nextToken();
                if (entityField.equals(name)) {
                    if (value == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                        return parser.getLongValue();
                    }
                    return null;
                }
                parser.skipChildren();
            }
            return null;
        } catch (Exception malformed) {
            return null;
        }
    }

    /** Adds an item to its entity's key group ({@code null}: key group 0); returns the items waiting. */
    int add(Long entity, String item) {
        int group = entity == null ? 0 : keyGroupOf(entity, maxParallelism);
        waiting.get(group).add(item);
        return ++count;
    }

    /** Hands on every waiting batch, then the flush ends. */
    void flush(Output<StreamRecord<Row>> output) {
        if (count == 0) {
            return;
        }
        for (int group = 0; group < maxParallelism; group++) {
            List<String> batch = waiting.get(group);
            if (!batch.isEmpty()) {
                output.collect(new StreamRecord<>(Row.of(keys[group], new ArrayList<>(batch))));
                batch.clear();
                subtaskGotBatches[subtaskOfGroup[group]] = true;
            }
        }
        for (int subtask = 0; subtask < flushEndKeys.length; subtask++) {
            if (subtaskGotBatches[subtask]) {
                output.collect(new StreamRecord<>(Row.of(flushEndKeys[subtask], new ArrayList<String>())));
                subtaskGotBatches[subtask] = false;
            }
        }
        count = 0;
    }
}
