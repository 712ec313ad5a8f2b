package io.github.pyflinkrealtimeai.pulsar;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.pulsar.source.config.SourceConfiguration;
import org.apache.flink.connector.pulsar.source.reader.deserializer.PulsarDeserializationSchema;
import org.apache.flink.metrics.Counter;
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
 * nothing, and replays from its checkpoint as it must.
 */
public final class RedeliveryFilteringStringSchema implements PulsarDeserializationSchema<String> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RedeliveryFilteringStringSchema.class);

    private transient Map<String, MessageId> lastEmitted;
    private transient Counter dropped;
    private transient long droppedInRun;

    @Override
    public void open(PulsarInitializationContext context, SourceConfiguration configuration) {
        lastEmitted = new HashMap<>();
        dropped = context.getMetricGroup().counter("pulsar_redeliveries_dropped_total");
        droppedInRun = 0;
    }

    @Override
    public void deserialize(Message<byte[]> message, Collector<String> out) {
        String partition = message.getTopicName();
        MessageId id = message.getMessageId();
        MessageId last = lastEmitted.get(partition);
        if (last != null && id.compareTo(last) <= 0) {
            if (droppedInRun == 0) {
                LOG.info("{}: the broker delivers again messages this reader emitted up to {}: dropping them",
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
