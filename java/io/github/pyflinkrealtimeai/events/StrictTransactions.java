package io.github.pyflinkrealtimeai.events;

import java.io.Serializable;
import java.time.DateTimeException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The transactions the JVM can vouch for: a raw message in the common, strict form of the schema
 * (flink_jobs/events.py) is parsed here into the fields the Python parse would give it, exactly;
 * anything else, valid or not, is left to the Python parse ({@link #parse} returns null), which
 * alone writes dead letters and their reasons. So the JVM never rejects and never accepts what
 * Python would not: it only takes the everyday case off the interpreter.
 *
 * <p>Left to Python: a message over a quarter of the schema's byte bound in characters, not
 * starting with "{", with duplicate keys, a nested value, a surrogate in any string or key, a
 * number Jackson holds as big or not finite; an event time in another form than
 * {@code YYYY-MM-DDTHH:MM:SS[.mmm](Z|+HH:MM|-HH:MM)}; and every field outside its range, as the
 * schema's checks and the job's event-time window say.
 */
public final class StrictTransactions implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Pattern EVENT_TIME = Pattern.compile(
            "(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{3}))?(Z|[+-]\\d{2}:\\d{2})");
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final int maxChars;
    private final double maxAmount;
    private final int maxEventIdChars;
    private final int maxFraudPatternChars;
    private final HashSet<String> merchantCategories;
    private final HashSet<String> channels;
    private final Pattern countryCode;
    private final Pattern currencyCode;
    private final long maxAheadMs;
    private final long maxBehindMs;

    /**
     * The schema's bounds and closed sets as flink_jobs/events.py defines them (java_operators.py
     * passes them, so there is one definition), and the pipeline's [events] window: an event time
     * further from the job's clock is Python's to reject. A message longer than a quarter of
     * {@code maxEventBytes} in characters is left to Python (it may be over the bound in UTF-8).
     */
    public StrictTransactions(int maxEventBytes, double maxAmount, int maxEventIdChars, int maxFraudPatternChars,
            List<String> merchantCategories, List<String> channels, String countryCode, String currencyCode,
            long maxAheadMs, long maxBehindMs) {
        this.maxChars = maxEventBytes / 4;
        this.maxAmount = maxAmount;
        this.maxEventIdChars = maxEventIdChars;
        this.maxFraudPatternChars = maxFraudPatternChars;
        this.merchantCategories = new HashSet<>(merchantCategories);
        this.channels = new HashSet<>(channels);
        this.countryCode = Pattern.compile(countryCode);
        this.currencyCode = Pattern.compile(currencyCode);
        this.maxAheadMs = maxAheadMs;
        this.maxBehindMs = maxBehindMs;
    }

    /**
     * The transaction's fields as events.Transaction holds them ({@code event_time_ms} epoch
     * milliseconds, {@code amount} a double, the optional fields null when absent), or null when
     * this message is not one the JVM vouches for.
     */
    public ObjectNode parse(String raw, long nowMs) {
        if (raw.length() > maxChars || raw.isEmpty() || raw.charAt(0) != '{') {
            return null;
        }
        JsonNode payload;
        try {
            payload = MAPPER.readTree(raw);
        } catch (JsonProcessingException | RuntimeException e) {
            return null;
        }
        if (payload == null || !payload.isObject() || !plainValues(payload)) {
            return null;
        }
        ObjectNode event = JsonNodeFactory.instance.objectNode();
        JsonNode amount = payload.get("amount");
        if (amount == null || !(amount.isInt() || amount.isLong() || amount.isDouble())) {
            return null;
        }
        double value = amount.asDouble();
        if (!(Double.isFinite(value) && value > 0 && value <= maxAmount)) {
            return null;
        }
        String eventId = text(payload, "event_id");
        Long eventTimeMs = eventTimeMs(text(payload, "event_time"));
        if (eventId == null || eventId.isEmpty() || eventId.length() > maxEventIdChars || eventTimeMs == null) {
            return null;
        }
        long offsetMs = eventTimeMs - nowMs;
        if (offsetMs > maxAheadMs || -offsetMs > maxBehindMs) {
            return null;
        }
        event.put("event_id", eventId);
        event.put("event_time_ms", eventTimeMs);
        for (String id : new String[] {"card_id", "customer_id", "merchant_id"}) {
            JsonNode node = payload.get(id);
            if (node == null || !(node.isInt() || node.isLong()) || node.asLong() < 0) {
                return null;
            }
            event.put(id, node.asLong());
        }
        String category = oneOf(payload, "merchant_category", merchantCategories);
        String merchantCountry = matching(payload, "merchant_country", countryCode);
        String cardCountry = matching(payload, "card_country", countryCode);
        String currency = matching(payload, "currency", currencyCode);
        String channel = oneOf(payload, "channel", channels);
        if (category == null || merchantCountry == null || cardCountry == null || currency == null || channel == null) {
            return null;
        }
        event.put("merchant_category", category);
        event.put("merchant_country", merchantCountry);
        event.put("card_country", cardCountry);
        event.put("amount", value);
        event.put("currency", currency);
        event.put("channel", channel);
        JsonNode isFraud = payload.get("is_fraud");
        if (isFraud == null || isFraud.isNull()) {
            event.putNull("is_fraud");
        } else if (isFraud.isBoolean()) {
            event.put("is_fraud", isFraud.booleanValue());
        } else {
            return null;
        }
        JsonNode pattern = payload.get("fraud_pattern");
        if (pattern == null || pattern.isNull()) {
            event.putNull("fraud_pattern");
        } else if (pattern.isTextual() && pattern.textValue().length() <= maxFraudPatternChars) {
            event.put("fraud_pattern", pattern.textValue());
        } else {
            return null;
        }
        return event;
    }

    /**
     * Every value a number Jackson holds as an int, a long or a finite double, a string and a key
     * with no surrogate (orjson refuses a lone one; a pair would count as two characters here), a
     * boolean or null: what orjson reads the same way.
     */
    private static boolean plainValues(JsonNode payload) {
        Iterator<Map.Entry<String, JsonNode>> fields = payload.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> field = fields.next();
            JsonNode value = field.getValue();
            if (hasSurrogate(field.getKey())) {
                return false;
            }
            boolean plain = value.isNull() || value.isBoolean() || value.isInt() || value.isLong()
                    || (value.isDouble() && Double.isFinite(value.doubleValue()))
                    || (value.isTextual() && !hasSurrogate(value.textValue()));
            if (!plain) {
                return false;
            }
        }
        return true;
    }

    private static boolean hasSurrogate(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (Character.isSurrogate(text.charAt(i))) {
                return true;
            }
        }
        return false;
    }

    private static String text(JsonNode payload, String name) {
        JsonNode node = payload.get(name);
        return node != null && node.isTextual() ? node.textValue() : null;
    }

    private static String oneOf(JsonNode payload, String name, Set<String> allowed) {
        String value = text(payload, name);
        return value != null && allowed.contains(value) ? value : null;
    }

    private static String matching(JsonNode payload, String name, Pattern form) {
        String value = text(payload, name);
        return value != null && form.matcher(value).matches() ? value : null;
    }

    /** Epoch milliseconds of an event time in the strict form, as Python's fromisoformat and timestamp give them. */
    static Long eventTimeMs(String text) {
        if (text == null) {
            return null;
        }
        Matcher m = EVENT_TIME.matcher(text);
        if (!m.matches()) {
            return null;
        }
        try {
            LocalDateTime local = LocalDateTime.of(
                    Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                    Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)), Integer.parseInt(m.group(6)),
                    m.group(7) == null ? 0 : Integer.parseInt(m.group(7)) * 1_000_000);
            String zone = m.group(8);
            ZoneOffset offset = zone.equals("Z") ? ZoneOffset.UTC : ZoneOffset.of(zone);
            if (local.getYear() < 1) {
                return null;
            }
            return local.toInstant(offset).toEpochMilli();
        } catch (DateTimeException e) {
            return null;
        }
    }
}
