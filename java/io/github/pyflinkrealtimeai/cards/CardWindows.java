package io.github.pyflinkrealtimeai.cards;

import java.io.StringWriter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The real-time card view in the JVM: one call per key group's batch of parsed transactions
 * ({@code Row(key, [line, ...])}, each line {@code {"card_id": c, "event": {...}, "received_ms":
 * t, "seed": history text | absent}} from the parse stage, Python's or the JVM's), each card's history read once
 * from a map state under the key group ({@code card_histories}: card id to its versioned text,
 * {@link HistoryText}), every transaction given its window features as of itself ({@link
 * CardHistory}), the history written once. Out goes one document per batch, the one the Python
 * card stage writes: {@code {"rows": [[event, features | null, received_ms], ...], "dead": [],
 * "late": [event, ...]}} (parse dead letters left earlier, on their own path; late events: with
 * {@code inCardOrder} only). An empty batch, the end of an upstream
 * flush, is answered with an empty string for the merger after this operator.
 *
 * <p>A card with no state starts from the seed a parse stage sent with its first transaction
 * (the backfill's history), else empty. The latest cards' decoded histories stay in memory: this
 * operator alone writes their state, and a restore starts the memory empty. With {@code
 * computesView} false (the view read from Feast), rows leave with null features and no state.
 */
public final class CardWindows extends KeyedProcessFunction<Row, Row, String> {
    private static final long serialVersionUID = 1L;
    public static final String STATE_NAME = "card_histories";
    static final int DECODED_CAPACITY = 10_000; // decoded histories kept per subtask, least recently used dropped
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final boolean computesView;
    private final boolean inCardOrder;

    private transient MapState<Long, String> histories;
    private transient LinkedHashMap<Long, CardHistory> decoded;

    /**
     * {@code inCardOrder} (the feature job): a transaction older than its card's latest one already
     * taken does not join the history; it leaves in the document's {@code "late"} list, so each
     * card's rows leave in event-time order.
     */
    public CardWindows(boolean computesView, boolean inCardOrder) {
        this.computesView = computesView;
        this.inCardOrder = inCardOrder;
    }

    /**
     * The jobs' map states of versioned text by a long id (the card histories, the python design's
     * batches): PyFlink's {@code MapStateDescriptor(name, Types.LONG(), STATE_TYPE)}, state_layout.py.
     */
    public static MapStateDescriptor<Long, String> versionedTexts(String name) {
        return new MapStateDescriptor<>(name, Types.LONG, Types.STRING);
    }

    @Override
    public void open(Configuration parameters) {
        histories = getRuntimeContext().getMapState(versionedTexts(STATE_NAME));
        decoded = new LinkedHashMap<>(256, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, CardHistory> eldest) {
                return size() > DECODED_CAPACITY;
            }
        };
    }

    @Override
    public void processElement(Row batch, Context ctx, Collector<String> out) throws Exception {
        @SuppressWarnings("unchecked")
        List<String> lines = (List<String>) batch.getField(1);
        if (lines == null || lines.isEmpty()) {
            out.collect("");
            return;
        }
        Map<Long, CardHistory> touched = new HashMap<>();
        List<JsonNode> late = new ArrayList<>();
        CardHistory.Features features = new CardHistory.Features();
        StringWriter document = new StringWriter(lines.size() * 512);
        try (JsonGenerator json = MAPPER.getFactory().createGenerator(document)) {
            json.writeStartObject();
            json.writeArrayFieldStart("rows");
            for (String line : lines) {
                JsonNode parsed = MAPPER.readTree(line);
                JsonNode event = parsed.get("event");
                CardHistory history = null;
                if (computesView) {
                    long card = parsed.get("card_id").asLong();
                    history = touched.get(card);
                    if (history == null) {
                        history = historyOf(card, parsed.get("seed"));
                        touched.put(card, history);
                    }
                    if (inCardOrder && history.newestMs != null && event.get("event_time_ms").asLong() < history.newestMs) {
                        late.add(event);
                        continue;
                    }
                }
                json.writeStartArray();
                json.writeTree(event);
                if (history != null) {
                    history.add(
                            event.get("event_time_ms").asLong(),
                            event.get("amount").asDouble(),
                            event.get("merchant_id").asLong(),
                            features);
                    features.writeTo(json);
                } else {
                    json.writeNull();
                }
                json.writeNumber(parsed.get("received_ms").asDouble());
                json.writeEndArray();
            }
            json.writeEndArray();
            json.writeArrayFieldStart("dead");
            json.writeEndArray();
            json.writeArrayFieldStart("late");
            for (JsonNode event : late) {
                json.writeTree(event);
            }
            json.writeEndArray();
            json.writeEndObject();
        }
        for (Map.Entry<Long, CardHistory> card : touched.entrySet()) {
            histories.put(card.getKey(), HistoryText.encode(card.getValue()));
        }
        out.collect(document.toString());
    }

    /** The card's history: in memory, else its state, else its seed, else a new one. */
    private CardHistory historyOf(long card, JsonNode seed) throws Exception {
        CardHistory history = decoded.get(card);
        if (history == null) {
            String stored = histories.get(card);
            if (stored != null) {
                history = HistoryText.decode(stored);
            } else if (seed != null && seed.isTextual()) {
                history = HistoryText.decode(seed.asText());
            } else {
                history = new CardHistory();
            }
            decoded.put(card, history);
        }
        return history;
    }
}
