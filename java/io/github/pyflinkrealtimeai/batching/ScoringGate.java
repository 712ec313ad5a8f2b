package io.github.pyflinkrealtimeai.batching;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Per-key-group batches (strings, the card windows' documents) held in the JVM while the scoring
 * operator after it has no room, and handed on as one list when it has: so a scoring call carries
 * every flush that came while the previous batch was scored, at any rate, and the scoring
 * operator's Python is not called once per flush.
 *
 * <p>The scoring operator answers every call with its room ({@link ScoringRoom}), which names a
 * pipe its scoring loop writes a byte on whenever a batch is done. While batches are not yet
 * taken the gate looks at that pipe every {@code pollMs}, without calling into Python, and asks
 * for the batches done (a list holding only {@link #POLL}) when a byte is there; then it hands
 * on what it holds if there is room. So the scoring operator's Python runs when rows come or a
 * batch is done, not on every flush or every poll. In thread mode (which chaining the three
 * needs) the interpreter runs in this process, so the pipe is {@code /proc/self/fd/<fd>}.
 *
 * <p>It hands on {@code maxHeldParts} at once without waiting for room (the scoring operator then
 * blocks: backpressure). Before every checkpoint barrier and at the end of input it hands on all
 * it holds, then an empty list that asks the scoring operator to finish every batch: nothing is
 * held or in flight across a checkpoint, so neither operator needs state.
 */
public final class ScoringGate extends AbstractStreamOperator<List<String>>
        implements OneInputStreamOperator<String, List<String>>, ProcessingTimeCallback {
    private static final long serialVersionUID = 1L;

    /** The only part of a list that asks for the batches done (a document is a JSON object). */
    public static final String POLL = "?";

    private final int maxHeldParts;
    private final long pollMs;

    private transient List<String> held;
    private transient ScoringRoom room;
    private transient boolean timerSet;
    private transient FileInputStream doneSignal;
    private transient byte[] signalBytes;

    public ScoringGate(int maxHeldParts, long pollMs) {
        this.maxHeldParts = maxHeldParts;
        this.pollMs = pollMs;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        held = new ArrayList<>();
        room = ScoringRoom.openOnThisThread();
        signalBytes = new byte[256];
    }

    @Override
    public void close() throws Exception {
        ScoringRoom.closeOnThisThread();
        if (doneSignal != null) {
            doneSignal.close();
        }
        super.close();
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
        String part = element.getValue();
        if (!part.isEmpty()) {
            held.add(part);
            if (held.size() < maxHeldParts) {
                return;
            }
        }
        // The end of an upstream flush (an empty string), or as many parts as may be held.
        if (room.hasRoom() || held.size() >= maxHeldParts) {
            handOn();
        }
        pollWhileTaking();
    }

    @Override
    public void onProcessingTime(long time) throws Exception {
        timerSet = false;
        if (room.notTaken() > 0 && batchDone()) {
            call(Collections.singletonList(POLL));
        }
        if (room.hasRoom()) {
            handOn();
        }
        pollWhileTaking();
    }

    /** Whether the scoring loop signalled a batch done since the last look (the bytes read). */
    private boolean batchDone() {
        try {
            if (doneSignal == null) {
                doneSignal = new FileInputStream("/proc/self/fd/" + room.doneSignalFd());
            }
            int waiting = doneSignal.available();
            if (waiting == 0) {
                return false;
            }
            while (waiting > 0) {
                waiting -= doneSignal.read(signalBytes, 0, Math.min(waiting, signalBytes.length));
            }
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("the scoring loop's done signal could not be read", e);
        }
    }

    private void handOn() {
        if (held.isEmpty()) {
            return;
        }
        List<String> parts = held;
        held = new ArrayList<>();
        call(parts);
    }

    private void call(List<String> parts) {
        long before = room.reports();
        output.collect(new StreamRecord<>(parts));
        if (room.reports() == before) {
            throw new IllegalStateException(
                    "the scoring operator did not report its room on the gate's thread: the gate, "
                            + "the scoring operator and the line splitter must be chained");
        }
    }

    private void pollWhileTaking() {
        if (!timerSet && (room.notTaken() > 0 || !held.isEmpty())) {
            long now = getProcessingTimeService().getCurrentProcessingTime();
            getProcessingTimeService().registerTimer(now + pollMs, this);
            timerSet = true;
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        finishAll();
    }

    @Override
    public void finish() throws Exception {
        finishAll();
        super.finish();
    }

    private void finishAll() {
        handOn();
        if (room.notTaken() > 0) {
            call(new ArrayList<>());
        }
    }
}
