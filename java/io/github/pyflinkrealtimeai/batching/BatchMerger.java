package io.github.pyflinkrealtimeai.batching;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Per-key-group batches (strings, each the Python operator's output for one of them) merged into
 * one batch for the next Python operator: a list goes out at the end of an upstream flush (an
 * empty string: the Python operator's answer to {@link KeyGroupBatcher}'s flush end) or when
 * {@code maxParts} wait. No timer closes a batch: the flush end always follows its batches on
 * their channel, so one scoring call takes a whole flush at any rate.
 *
 * <p>The scoring operator after it keeps batches in flight between its calls (it does not wait
 * for one's Triton round trip before taking the next). An empty list asks it to finish them all:
 * sent before every checkpoint barrier and at the end of input, so nothing is in flight across a
 * checkpoint and neither operator needs state, and {@code drainAfterMs} after the last list when
 * no other followed, so the last batch of a lull waits no longer than that.
 */
public final class BatchMerger extends AbstractStreamOperator<List<String>>
        implements OneInputStreamOperator<String, List<String>>, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    private final int maxParts;
    private final long drainAfterMs;

    private transient List<String> waiting;
    private transient boolean sentSinceDrain;
    private transient long lastSentMs;
    private transient boolean timerSet;

    public BatchMerger(int maxParts, long drainAfterMs) {
        this.maxParts = maxParts;
        this.drainAfterMs = drainAfterMs;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        waiting = new ArrayList<>();
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
        String part = element.getValue();
        if (part.isEmpty()) {
            sendMerged();
            return;
        }
        waiting.add(part);
        if (waiting.size() >= maxParts) {
            sendMerged();
        }
    }

    private void sendMerged() {
        if (waiting.isEmpty()) {
            return;
        }
        output.collect(new StreamRecord<>(waiting));
        waiting = new ArrayList<>();
        sentSinceDrain = true;
        lastSentMs = getProcessingTimeService().getCurrentProcessingTime();
        drainAt(lastSentMs + drainAfterMs);
    }

    private void drainAt(long timeMs) {
        if (!timerSet) {
            getProcessingTimeService().registerTimer(timeMs, this);
            timerSet = true;
        }
    }

    private void drain() {
        if (sentSinceDrain) {
            output.collect(new StreamRecord<>(new ArrayList<>()));
            sentSinceDrain = false;
        }
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        timerSet = false;
        if (!sentSinceDrain) {
            return;
        }
        long due = lastSentMs + drainAfterMs;
        if (time >= due) {
            drain();
        } else {
            drainAt(due);
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        sendMerged();
        drain();
    }

    @Override
    public void finish() throws Exception {
        sendMerged();
        drain();
        super.finish();
    }
}
