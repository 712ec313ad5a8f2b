package io.github.pyflinkrealtimeai.pulsar;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.pulsar.source.config.SourceConfiguration;
import org.apache.flink.connector.pulsar.source.reader.deserializer.PulsarDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.util.Collector;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Message values as UTF-8 strings (as Flink's SimpleStringSchema decodes them), without the
 * messages the broker delivers a second time to a running reader.
 *
 * <p>The Pulsar connector (4.1.0) reads each partition through a durable Exclusive subscription
 * that it acknowledges only when a checkpoint completes. When the consumer's connection drops (a
 * broker restart, a topic moved to another broker), the broker delivers again everything after
 * the last acknowledged position, and the connector emits it again: a running job would process
 * those messages twice, and commit both results in different transactions. An Exclusive
 * subscription delivers a partition in message-id order, so a message whose id is not after the
 * last one this reader emitted for its partition was emitted already: it is dropped and counted
 * ({@code pulsar_redeliveries_dropped_total}). A restored job gets a new instance that remembers
 * nothing, and replays from its checkpoint as it must, except for a checkpoint inside a batch:
 * then {@link BatchResumingReader} has it drop that batch's messages up to the checkpointed one
 * ({@link #resumeAfter}).
 *
 * <p>It also reports the source's {@code pendingRecords} (the connector reports none): the
 * subscription's backlog on the topics this reader reads ({@link SubscriptionBacklog}), a gauge
 * in the reader's metric group, where Flink's autoscaler finds it by that name.
 */
public final class RedeliveryFilteringStringSchema implements PulsarDeserializationSchema<String> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RedeliveryFilteringStringSchema.class);

    private final SubscriptionBacklog backlog;

    private transient Map<String, MessageId> lastEmitted;
    private transient Counter dropped;
    private transient long droppedInRun;

    /**
     * @param adminUrl the broker's admin REST API (http://host:8080 or https://host:8443)
     * @param trustCertsFile PEM of the CAs to trust on https, "" for the system's
     * @param tokenAuthParams the client's token authentication parameter ("file:///path" or
     *     "token:value"), "" for none
     */
    public RedeliveryFilteringStringSchema(String adminUrl, String trustCertsFile, String tokenAuthParams) {
        backlog = new SubscriptionBacklog(adminUrl, trustCertsFile, tokenAuthParams);
    }

    @Override
    public void open(PulsarInitializationContext context, SourceConfiguration configuration) {
        // Concurrent: its keys are also the topics whose backlog the gauge reads on a reporter's thread.
        lastEmitted = new ConcurrentHashMap<>();
        dropped = context.getMetricGroup().counter("pulsar_redeliveries_dropped_total");
        droppedInRun = 0;
        backlog.open(configuration.getSubscriptionName(), lastEmitted.keySet());
        context.getMetricGroup().gauge("pendingRecords", (Gauge<Long>) backlog::pendingRecords);
    }

    /** Drops what `partition` delivers up to `checkpointed` (called after {@link #open}, before it reads). */
    void resumeAfter(String partition, MessageId checkpointed) {
        lastEmitted.put(partition, checkpointed);
    }

    @Override
    public void deserialize(Message<byte[]> message, Collector<String> out) {
        String partition = message.getTopicName();
        MessageId id = message.getMessageId();
        MessageId last = lastEmitted.get(partition);
        if (last != null && id.compareTo(last) <= 0) {
            if (droppedInRun == 0) {
                LOG.info("{}: messages up to {} are delivered again (emitted before, or before the checkpoint restored): dropping them",
                        partition, last);
            }
            droppedInRun++;
            dropped.inc();
            return;
        }
        if (droppedInRun > 0) {
            LOG.info("{}: dropped {} messages delivered again; reading on from {}", partition, droppedInRun, id);
            droppedInRun = 0;
        }
        lastEmitted.put(partition, id);
        out.collect(new String(message.getData(), StandardCharsets.UTF_8));
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return BasicTypeInfo.STRING_TYPE_INFO;
    }
}
