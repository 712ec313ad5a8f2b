package io.github.pyflinkrealtimeai.batching;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import io.github.pyflinkrealtimeai.cards.SeedTexts;
import io.github.pyflinkrealtimeai.events.StrictTransactions;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;

/**
 * The parse stage in the JVM, chained to the source: each raw transaction the JVM vouches for
 * ({@link StrictTransactions}) becomes an {@code E} line as the Python parse writes it (with the
 * card's seed history the first time this subtask passes a card on), every other message waits
 * for the Python parse on the side output {@link #TO_PYTHON}, which alone writes dead letters. A
 * flush (the buffering bounds of {@link BufferingOperator}) hands on one string of the lines and
 * one list of the others, each only when not empty: with no doubtful message, nothing between
 * the source and the card windows crosses into Python.
 */
public final class JvmParse extends BufferingOperator<String, String> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<List<String>> TO_PYTHON =
            new OutputTag<List<String>>("to-python-parse", Types.LIST(Types.STRING)) {
                private static final long serialVersionUID = 1L;
            };
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final int maxEvents;
    private final StrictTransactions strict;
    private final String seedTextFile;

    private transient SeedTexts seed;
    private transient Set<Long> seeded;
    private transient StringBuilder lines;
    private transient int waiting;
    private transient List<String> doubtful;
    private transient Counter received;
    private transient Counter valid;

    /** {@code seedTextFile}: the seed's text copy ({@link SeedTexts}), "" for none. */
    public JvmParse(int maxEvents, long maxWaitMs, boolean flushWhenIdle, StrictTransactions strict,
            String seedTextFile) {
        super(maxWaitMs, flushWhenIdle);
        this.maxEvents = maxEvents;
        this.strict = strict;
        this.seedTextFile = seedTextFile;
    }

    @Override
    public void open() throws Exception {
        super.open();
        seed = SeedTexts.load(seedTextFile);
        seeded = new HashSet<>();
        lines = new StringBuilder();
        doubtful = new ArrayList<>();
        // The Python parse counts the messages it gets; these count the ones it never sees.
        received = getMetricGroup().counter("events_received_total");
        valid = getMetricGroup().counter("events_valid_total");
    }

    @Override
    public void processElement(StreamRecord<String> element) throws Exception {
        String raw = element.getValue();
        long receivedMs = System.currentTimeMillis();
        ObjectNode event = strict.parse(raw, receivedMs);
        if (event == null) {
            doubtful.add(raw);
        } else {
            long card = event.get("card_id").asLong();
            ObjectNode line = MAPPER.createObjectNode();
            line.put("card_id", card);
            line.set("event", event);
            line.put("received_ms", (double) receivedMs);
            String text = seeded.contains(card) ? null : seed.text(card);
            if (text != null) {
                line.put("seed", text);
                seeded.add(card);
            }
            if (lines.length() > 0) {
                lines.append('\n');
            }
            lines.append('E').append(MAPPER.writeValueAsString(line));
            valid.inc();
            received.inc();
        }
        if (++waiting >= maxEvents) {
            flush();
        } else {
            flushLater();
        }
    }

    @Override
    protected void flush() {
        if (lines.length() > 0) {
            output.collect(new StreamRecord<>(lines.toString()));
            lines = new StringBuilder();
        }
        if (!doubtful.isEmpty()) {
            output.collect(TO_PYTHON, new StreamRecord<>(doubtful));
            doubtful = new ArrayList<>();
        }
        waiting = 0;
    }
}
