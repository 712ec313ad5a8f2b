package io.github.pyflinkrealtimeai.pulsar;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.pulsar.source.PulsarSource;
import org.apache.flink.connector.pulsar.source.enumerator.PulsarSourceEnumState;
import org.apache.flink.connector.pulsar.source.split.PulsarPartitionSplit;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The connector's {@link PulsarSource}, restored at the message its checkpoint holds even when that
 * message lies inside a producer's batch.
 *
 * <p>The connector (4.1.0) resumes a restored split at the entry after its last consumed message's
 * (FLINK-36180): when a checkpoint fell inside a batch (one entry holding many messages), the rest
 * of that batch was skipped on every restore from it, so the jobs' producers had to publish
 * unbatched. This source's readers resume such a split at the batch's own entry and have the
 * deserializer drop the batch's messages up to the checkpointed one ({@link BatchResumingReader}).
 *
 * <p>{@code schema} must be the deserializer the wrapped source was built with: both are
 * serialized with this object, so each reader's copy of the source still shares it.
 */
public final class BatchResumingPulsarSource
        implements Source<String, PulsarPartitionSplit, PulsarSourceEnumState>, ResultTypeQueryable<String> {
    private static final long serialVersionUID = 1L;

    private final PulsarSource<String> source;
    private final RedeliveryFilteringStringSchema schema;

    public BatchResumingPulsarSource(PulsarSource<String> source, RedeliveryFilteringStringSchema schema) {
        this.source = source;
        this.schema = schema;
    }

    @Override
    public Boundedness getBoundedness() {
        return source.getBoundedness();
    }

    @Override
    public SourceReader<String, PulsarPartitionSplit> createReader(SourceReaderContext context) throws Exception {
        return new BatchResumingReader(source.createReader(context), schema);
    }

    @Override
    public SplitEnumerator<PulsarPartitionSplit, PulsarSourceEnumState> createEnumerator(
            SplitEnumeratorContext<PulsarPartitionSplit> context) throws Exception {
        return source.createEnumerator(context);
    }

    @Override
    public SplitEnumerator<PulsarPartitionSplit, PulsarSourceEnumState> restoreEnumerator(
            SplitEnumeratorContext<PulsarPartitionSplit> context, PulsarSourceEnumState checkpoint) throws Exception {
        return source.restoreEnumerator(context, checkpoint);
    }

    @Override
    public SimpleVersionedSerializer<PulsarPartitionSplit> getSplitSerializer() {
        return source.getSplitSerializer();
    }

    @Override
    public SimpleVersionedSerializer<PulsarSourceEnumState> getEnumeratorCheckpointSerializer() {
        return source.getEnumeratorCheckpointSerializer();
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return source.getProducedType();
    }
}
