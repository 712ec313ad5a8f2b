package io.github.pyflinkrealtimeai.cards;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A card history's text in keyed state, the layout {@code flink_jobs/state_layout.py} defines
 * (Python writes and reads the same text: a savepoint moves between the designs, the backfill's
 * seed reads in either). Layout 2: {@code {"layout": 2, "buckets": {window: [[index, count,
 * amount_sum], ...]}, "merchants": [[merchant_id, time_ms], ...], "amount_count": int,
 * "amount_sum": float, "last_time_ms": int | null, "newest_ms": int | null}}; layout 1 (recent
 * transactions) is replayed into layout 2 as Python's upgrade does; a newer layout fails the job.
 */
public final class HistoryText {
    static final int LAYOUT = 2;
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonFactory JSON = MAPPER.getFactory();

    private HistoryText() {}

    public static String encode(CardHistory history) {
        StringWriter text = new StringWriter(256);
        try (JsonGenerator out = JSON.createGenerator(text)) {
            out.writeStartObject();
            out.writeNumberField("layout", LAYOUT);
            out.writeObjectFieldStart("buckets");
            for (int w = 0; w < CardHistory.WINDOWS.length; w++) {
                out.writeArrayFieldStart(CardHistory.WINDOWS[w]);
                for (Map.Entry<Long, double[]> bucket : history.buckets.get(w).entrySet()) {
                    out.writeStartArray();
                    out.writeNumber(bucket.getKey());
                    out.writeNumber((long) bucket.getValue()[0]);
                    out.writeNumber(bucket.getValue()[1]);
                    out.writeEndArray();
                }
                out.writeEndArray();
            }
            out.writeEndObject();
            out.writeArrayFieldStart("merchants");
            for (Map.Entry<Long, Long> merchant : history.merchants.entrySet()) {
                out.writeStartArray();
                out.writeNumber(merchant.getKey());
                out.writeNumber(merchant.getValue());
                out.writeEndArray();
            }
            out.writeEndArray();
            out.writeNumberField("amount_count", history.amountCount);
            out.writeNumberField("amount_sum", history.amountSum);
            writeNullableLong(out, "last_time_ms", history.lastTimeMs);
            writeNullableLong(out, "newest_ms", history.newestMs);
            out.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return text.toString();
    }

    private static void writeNullableLong(JsonGenerator out, String name, Long value) throws IOException {
        if (value == null) {
            out.writeNullField(name);
        } else {
            out.writeNumberField(name, value);
        }
    }

    /** The history in {@code text}; IllegalStateException, saying why, for text this code cannot read. */
    public static CardHistory decode(String text) {
        JsonNode document;
        try {
            document = MAPPER.readTree(text);
        } catch (IOException e) {
            document = null;
        }
        JsonNode layout = document == null ? null : document.get("layout");
        if (layout == null || !layout.isInt() || layout.asInt() < 1) {
            throw new IllegalStateException("keyed state in no known layout: " + shortened(text));
        }
        if (layout.asInt() > LAYOUT) {
            throw new IllegalStateException("keyed state written with layout " + layout.asInt()
                    + "; this job reads layouts up to " + LAYOUT
                    + ": restore it with the version of the job that wrote it, or a newer one");
        }
        return layout.asInt() == 1 ? replayed(document) : bounded(document);
    }

    private static CardHistory bounded(JsonNode document) {
        CardHistory history = new CardHistory();
        JsonNode buckets = document.get("buckets");
        for (int w = 0; w < CardHistory.WINDOWS.length; w++) {
            JsonNode rows = buckets.get(CardHistory.WINDOWS[w]);
            if (rows == null) {
                continue;
            }
            for (JsonNode row : rows) {
                history.buckets.get(w).put(row.get(0).asLong(), new double[] {row.get(1).asLong(), row.get(2).asDouble()});
            }
        }
        for (JsonNode merchant : document.get("merchants")) {
            history.merchants.put(merchant.get(0).asLong(), merchant.get(1).asLong());
        }
        history.amountCount = document.get("amount_count").asLong();
        history.amountSum = document.get("amount_sum").asDouble();
        history.lastTimeMs = nullableLong(document.get("last_time_ms"));
        history.newestMs = nullableLong(document.get("newest_ms"));
        return history;
    }

    /** Layout 1 to 2, as state_layout.py's upgrade: the recent transactions replayed in their order, the running statistics kept. */
    private static CardHistory replayed(JsonNode document) {
        List<Recent> recent = new ArrayList<>();
        for (JsonNode row : document.get("recent")) {
            recent.add(new Recent(row.get(0).asLong(), row.get(1).asDouble(), row.get(2).asLong()));
        }
        recent.sort(Comparator.comparingLong((Recent r) -> r.timeMs)
                .thenComparingDouble(r -> r.amount)
                .thenComparingLong(r -> r.merchantId));
        CardHistory history = new CardHistory();
        CardHistory.Features ignored = new CardHistory.Features();
        for (Recent row : recent) {
            history.add(row.timeMs, row.amount, row.merchantId, ignored);
        }
        history.amountCount = document.get("amount_count").asLong();
        history.amountSum = document.get("amount_sum").asDouble();
        history.lastTimeMs = nullableLong(document.get("last_time_ms"));
        return history;
    }

    /** A layout-1 history's transaction. */
    private static final class Recent {
        final long timeMs;
        final double amount;
        final long merchantId;

        Recent(long timeMs, double amount, long merchantId) {
            this.timeMs = timeMs;
            this.amount = amount;
            this.merchantId = merchantId;
        }
    }

    private static Long nullableLong(JsonNode value) {
        return value == null || value.isNull() ? null : value.asLong();
    }

    private static String shortened(String text) {
        return text.length() <= 100 ? text : text.substring(0, 100) + "...";
    }
}
