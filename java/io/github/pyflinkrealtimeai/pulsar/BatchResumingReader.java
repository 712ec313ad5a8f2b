package io.github.pyflinkrealtimeai.pulsar;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import io.github.pyflinkrealtimeai.batching.InputIdle;

import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.connector.pulsar.source.split.PulsarPartitionSplit;
import org.apache.flink.core.io.InputStatus;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.MessageIdAdv;
import org.apache.pulsar.client.impl.MessageIdImpl;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connector's reader, with its restored splits resumed at the message their checkpoint holds.
 *
 * <p>A split restored with a last consumed message inside a batch is handed to the connector as if
 * its last consumed message were the entry before the batch (the connector resumes at the entry
 * after it: the batch's own), and the deserializer is told the checkpointed message, so it drops
 * the batch's messages up to it as the redeliveries they are. Until the split reads past it, its
 * snapshots carry the checkpointed message, not a dropped message or none, so a checkpoint taken
 * before then resumes at the same place.
 *
 * <p>When it has handed on everything fetched it tells {@link InputIdle}, so that a batcher chained
 * after it flushes at once.
 */
// "try": close() throws what SourceReader's may (Exception); this class is never in a try-with-resources.
@SuppressWarnings("try")
final class BatchResumingReader implements SourceReader<String, PulsarPartitionSplit> {
    private static final Logger LOG = LoggerFactory.getLogger(BatchResumingReader.class);

    private final SourceReader<String, PulsarPartitionSplit> reader;
    private final RedeliveryFilteringStringSchema schema;
    /** Split id -> the checkpointed message that a stand-in replaced, until the split reads past it. */
    private final Map<String, MessageId> replaced = new HashMap<>();

    BatchResumingReader(SourceReader<String, PulsarPartitionSplit> reader, RedeliveryFilteringStringSchema schema) {
        this.reader = reader;
        this.schema = schema;
    }

    @Override
    public void addSplits(List<PulsarPartitionSplit> splits) {
        List<PulsarPartitionSplit> resumed = new ArrayList<>(splits.size());
        for (PulsarPartitionSplit split : splits) {
            MessageId last = split.getLatestConsumedId();
            if (!insideBatch(last)) {
                resumed.add(split);
                continue;
            }
            MessageIdAdv inBatch = (MessageIdAdv) last;
            MessageId standIn = new MessageIdImpl(
                    inBatch.getLedgerId(), inBatch.getEntryId() - 1, inBatch.getPartitionIndex());
            String partition = split.getPartition().getFullTopicName();
            LOG.info("{}: resuming inside the batch of {}, at its entry; its messages up to that one are dropped",
                    partition, last);
            schema.resumeAfter(partition, last);
            replaced.put(split.splitId(), last);
            resumed.add(new PulsarPartitionSplit(
                    split.getPartition(), split.getStopCursor(), standIn, split.getUncommittedTransactionId()));
        }
        reader.addSplits(resumed);
    }

    /** A message of a batch other than its last (the connector resumes right after a batch's last). */
    private static boolean insideBatch(MessageId id) {
        if (!(id instanceof MessageIdAdv)) {  // null (nothing consumed) included
            return false;
        }
        MessageIdAdv adv = (MessageIdAdv) id;
        return adv.getBatchIndex() >= 0 && (adv.getBatchSize() <= 0 || adv.getBatchIndex() < adv.getBatchSize() - 1);
    }

    @Override
    public List<PulsarPartitionSplit> snapshotState(long checkpointId) {
        List<PulsarPartitionSplit> splits = reader.snapshotState(checkpointId);
        if (replaced.isEmpty()) {
            return splits;
        }
        List<PulsarPartitionSplit> snapshot = new ArrayList<>(splits.size());
        for (PulsarPartitionSplit split : splits) {
            MessageId checkpointed = replaced.get(split.splitId());
            MessageId last = split.getLatestConsumedId();
            // null: nothing read since the restore (the connector's split state starts empty).
            // Otherwise a message of the batch the deserializer drops (ordered as it orders them).
            if (checkpointed != null && (last == null || last.compareTo(checkpointed) <= 0)) {
                snapshot.add(new PulsarPartitionSplit(split.getPartition(), split.getStopCursor(),
                        checkpointed, split.getUncommittedTransactionId()));
            } else {
                replaced.remove(split.splitId());
                snapshot.add(split);
            }
        }
        return snapshot;
    }

    @Override
    public void start() {
        reader.start();
    }

    @Override
    public InputStatus pollNext(ReaderOutput<String> output) throws Exception {
        InputStatus status = reader.pollNext(output);
        if (status == InputStatus.NOTHING_AVAILABLE) {
            InputIdle.signal();  // a batcher chained after this source hands its batch on now
        }
        return status;
    }

    @Override
    public CompletableFuture<Void> isAvailable() {
        return reader.isAvailable();
    }

    @Override
    public void notifyNoMoreSplits() {
        reader.notifyNoMoreSplits();
    }

    @Override
    public void handleSourceEvents(SourceEvent event) {
        reader.handleSourceEvents(event);
    }

    @Override
    public void pauseOrResumeSplits(Collection<String> toPause, Collection<String> toResume) {
        reader.pauseOrResumeSplits(toPause, toResume);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        reader.notifyCheckpointComplete(checkpointId);
    }

    @Override
    public void notifyCheckpointAborted(long checkpointId) throws Exception {
        reader.notifyCheckpointAborted(checkpointId);
    }

    @Override
    public void close() throws Exception {
        reader.close();
    }
}
