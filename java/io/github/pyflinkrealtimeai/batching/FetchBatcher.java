package io.github.pyflinkrealtimeai.batching;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Raw events into one list per flush, for a Python operator chained after it to take whole: a
 * list goes out when {@code maxEvents} wait, {@code maxWaitMs} after the first arrived, before
 * every checkpoint barrier, at the end of input and, with {@code flushWhenIdle}, as soon as the
 * source has nothing more to read ({@link InputIdle}): at a low rate, one Python call per fetch.
 */
public final class FetchBatcher extends BufferingOperator<String, List<String>> {
    private static final long serialVersionUID = 1L;

    private final int maxEvents;

    private transient List<String> waiting;

    public FetchBatcher(int maxEvents, long maxWaitMs, boolean flushWhenIdle) {
        super(maxWaitMs, flushWhenIdle);
        this.maxEvents = maxEvents;
    }

    @Override
    public void open() throws Exception {
        super.open();
        waiting = new ArrayList<>();
    }

    @Override
    public void processElement(StreamRecord<String> element) {
        waiting.add(element.getValue());
        if (waiting.size() >= maxEvents) {
            flush();
        } else {
            flushLater();
        }
    }

    @Override
    protected void flush() {
        if (!waiting.isEmpty()) {
            output.collect(new StreamRecord<>(waiting));
            waiting = new ArrayList<>();
        }
    }
}
