package io.github.pyflinkrealtimeai.batching;

import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * Raw events (JSON strings) into batches, one per key group of their entity ({@link
 * KeyGroupRouting}), for a keyed Python operator that parses them and keeps each entity's state.
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
 */
public final class KeyGroupBatcher extends BufferingOperator<String, Row> {
    private static final long serialVersionUID = 1L;

    private final String entityField;
    private final int maxParallelism;
    private final int maxEvents;

    private transient KeyGroupRouting routing;

    public KeyGroupBatcher(String entityField, int maxParallelism, int maxEvents, long maxWaitMs, boolean flushWhenIdle) {
        super(maxWaitMs, flushWhenIdle);
        this.entityField = entityField;
        this.maxParallelism = maxParallelism;
        this.maxEvents = maxEvents;
    }

    @Override
    public void open() throws Exception {
        super.open();
        routing = new KeyGroupRouting(entityField, maxParallelism, this);
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
        String raw = element.getValue();
        if (routing.add(routing.entityOf(raw), raw) >= maxEvents) {
            flush();
        } else {
            flushLater();
        }
    }

    @Override
    protected void flush() {
        routing.flush(output);
    }
}
