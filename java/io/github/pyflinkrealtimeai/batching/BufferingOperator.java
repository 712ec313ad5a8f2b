package io.github.pyflinkrealtimeai.batching;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;

/**
 * An operator that holds its input back and hands it on in {@link #flush()}: {@code maxWaitMs}
 * after {@link #flushLater()} is first called, before every checkpoint barrier (so nothing waits
 * in it across a checkpoint and it needs no state), at the end of input and, with {@code
 * flushWhenIdle}, as soon as the source chained before it has nothing more to read ({@link
 * InputIdle}). Chained to the operator before it (an operator's default is to start a chain, a
 * task, of its own).
 */
abstract class BufferingOperator<IN, OUT> extends AbstractStreamOperator<OUT>
        implements OneInputStreamOperator<IN, OUT>, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    private final long maxWaitMs;
    private final boolean flushWhenIdle;
    private transient boolean timerSet;

    BufferingOperator(long maxWaitMs, boolean flushWhenIdle) {
        this.maxWaitMs = maxWaitMs;
        this.flushWhenIdle = flushWhenIdle;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        if (flushWhenIdle) {
            InputIdle.listen(this::flush);
        }
    }

    @Override
    public void close() throws Exception {
        InputIdle.stopListening();
        super.close();
    }

    /** Hands on what waits. */
    protected abstract void flush();

    /** A flush maxWaitMs from now, unless one is due already. */
    protected final void flushLater() {
        if (!timerSet) {
            ProcessingTimeCallback self = this;
            getProcessingTimeService()
                    .registerTimer(getProcessingTimeService().getCurrentProcessingTime() + maxWaitMs, self);
            timerSet = true;
        }
    }

    @Override
    public final void onProcessingTime(long time) throws Exception {
        timerSet = false;
        flush();
    }

    @Override
    public final void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush();
    }

    @Override
    public final void finish() throws Exception {
        flush();
        super.finish();
    }
}
