package io.github.pyflinkrealtimeai.batching;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.runtime.io.network.api.writer.ResultPartitionWriter;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Raw events (JSON strings) into batches, one per key group of their entity: each output is
 * {@code Row(key, [raw, ...])}, where {@code key} is a one-field-row key that Flink assigns to
 * that key group, so a keyed Python operator downstream sees every event of an entity under the
 * same key, keeps the entity's state in a map state under it, and a rescale moves the state
 * with its key group.
 *
 * <p>The entity is the top-level integer field {@code entityField} ({@code card_id}), read with
 * a streaming JSON parser that stops at it; an event without it (malformed, or a wrong type) goes
 * to key group 0, where the Python parser dead-letters it with the reason.
 *
 * <p>The batches go out when {@code maxEvents} wait, {@code maxWaitMs} after the first of them
 * arrived, before every checkpoint barrier (so no state: what waits is always downstream of
 * the barrier's checkpoint), at the end of input and, with {@code flushWhenIdle}, as soon as the
 * source has nothing more to read ({@link InputIdle}). Under load the flush waits on the
 * downstream task's backpressure and the input is never idle, so batches grow with the load; at
 * a low rate each event waits at most {@code maxWaitMs}, and with {@code flushWhenIdle} only for
 * the rest of its fetch.
 *
 * <p>A flush ends with an empty batch, the flush's end, to each downstream subtask that got
 * batches in it: it travels on the same channel as they do, so it arrives after them, and a
 * {@link BatchMerger} after the Python operator merges exactly one flush's batches, however
 * many key groups they span and however long the Python calls take.
 */
public final class KeyGroupBatcher extends BufferingOperator<String, Row> {
    private static final long serialVersionUID = 1L;

    private final String entityField;
    private final int maxParallelism;
    private final int maxEvents;
    private final boolean flushWhenIdle;

    private transient int[] keys;
    private transient int[] flushEndKeys; // per downstream subtask, a key it owns
    private transient int[] subtaskOfGroup;
    private transient boolean[] subtaskGotBatches;
    private transient List<List<String>> waiting;
    private transient int count;
    private transient JsonFactory json;

    public KeyGroupBatcher(String entityField, int maxParallelism, int maxEvents, long maxWaitMs, boolean flushWhenIdle) {
        super(maxWaitMs);
        this.entityField = entityField;
        this.maxParallelism = maxParallelism;
        this.maxEvents = maxEvents;
        this.flushWhenIdle = flushWhenIdle;
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

    @Override
    public void open() throws Exception {
        super.open();
        keys = keyGroupKeys(maxParallelism);
        int subtasks = downstreamParallelism();
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
        json = new JsonFactory();
        if (flushWhenIdle) {
            InputIdle.listen(this::flush);
        }
    }

    @Override
    public void close() throws Exception {
        InputIdle.stopListening();
        super.close();
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
        String raw = element.getValue();
        Long entity = entityOf(raw);
        int group = entity == null ? 0 : keyGroupOf(entity, maxParallelism);
        waiting.get(group).add(raw);
        count++;
        if (count >= maxEvents) {
            flush();
        } else {
            flushLater();
        }
    }

    /**
     * The keyed operator's parallelism: the subpartitions of this chain's one output. With more
     * outputs than one (not this project's graphs), each key group counts as a subtask of its own:
     * a flush end per key group that got a batch, still correct, only more calls.
     */
    private int downstreamParallelism() {
        ResultPartitionWriter[] writers = getContainingTask().getEnvironment().getAllWriters();
        return writers.length == 1 ? writers[0].getNumberOfSubpartitions() : maxParallelism;
    }

    private Long entityOf(String raw) {
        try (JsonParser parser = json.createParser(raw)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            JsonToken token;
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
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

    @Override
    protected void flush() {
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
