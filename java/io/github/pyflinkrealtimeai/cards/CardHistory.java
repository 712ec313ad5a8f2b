package io.github.pyflinkrealtimeai.cards;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;

/**
 * One card's sliding window features over event time, in bounded state: the JVM twin of
 * {@code flink_jobs/stages/features/card_windows.py}, which the backfill runs to make the
 * training set. Both must give the same features, bit for bit, for the same transactions:
 * the same buckets, the sums taken in the same order (insertion order, as a Python dict
 * iterates), Python's rounding ({@code round(x, n)}: the double's exact value, half to even);
 * {@code tests/test_card_windows_parity.py} holds them to it.
 */
public final class CardHistory {
    static final String[] WINDOWS = {"1m", "10m", "1h"};
    static final long[] BUCKET_MS = {1_000, 10_000, 60_000}; // a window's length / BUCKETS_PER_WINDOW
    static final int BUCKETS_PER_WINDOW = 60;
    static final long DISTINCT_MERCHANTS_WINDOW_MS = 600_000;
    static final int MAX_MERCHANTS = 64;

    /** Per window: bucket index to {count, amount sum}, in insertion order. */
    final List<LinkedHashMap<Long, double[]>> buckets = new ArrayList<>(WINDOWS.length);
    final LinkedHashMap<Long, Long> merchants = new LinkedHashMap<>(); // merchant id -> its latest time ms
    long amountCount;
    double amountSum;
    Long lastTimeMs;
    Long newestMs;

    public CardHistory() {
        for (int w = 0; w < WINDOWS.length; w++) {
            buckets.add(new LinkedHashMap<>());
        }
    }

    /** The features as of this transaction (to {@code features}), then it joins the history. */
    public void add(long timeMs, double amount, long merchantId, Features features) {
        for (int w = 0; w < WINDOWS.length; w++) {
            LinkedHashMap<Long, double[]> windowBuckets = buckets.get(w);
            long index = Math.floorDiv(timeMs, BUCKET_MS[w]);
            double[] bucket = windowBuckets.get(index);
            if (bucket == null) {
                windowBuckets.put(index, new double[] {1, amount});
            } else {
                bucket[0] += 1;
                bucket[1] += amount;
            }
            long first = index - BUCKETS_PER_WINDOW;
            long count = 0;
            double total = 0.0;
            for (Map.Entry<Long, double[]> entry : windowBuckets.entrySet()) {
                if (entry.getKey() > first) {
                    count += (long) entry.getValue()[0];
                    total += entry.getValue()[1];
                }
            }
            features.counts[w] = count;
            features.sums[w] = pythonRound(total, 2);
        }
        Long seen = merchants.get(merchantId);
        if (seen == null || seen < timeMs) {
            merchants.put(merchantId, timeMs);
        }
        long merchantStart = timeMs - DISTINCT_MERCHANTS_WINDOW_MS;
        int distinct = 0;
        for (long t : merchants.values()) {
            if (t > merchantStart) {
                distinct++;
            }
        }
        features.distinctMerchants = Math.min(distinct, MAX_MERCHANTS);
        // As card_windows.py: a card's first transaction has -1 seconds and a ratio of 1.0.
        features.secondsSincePrev = lastTimeMs == null ? -1.0 : (double) (timeMs - lastTimeMs) / 1000.0;
        features.amountToMeanRatio =
                amountCount == 0 ? 1.0 : pythonRound(amount / (amountSum / (double) amountCount), 6);
        amountCount++;
        amountSum += amount;
        lastTimeMs = timeMs;
        if (newestMs == null || timeMs > newestMs) {
            newestMs = timeMs;
        }
        forgetThePast();
    }

    /** Drops the buckets and merchants no window of the newest transaction reaches. */
    private void forgetThePast() {
        long newest = newestMs;
        for (int w = 0; w < WINDOWS.length; w++) {
            long first = Math.floorDiv(newest, BUCKET_MS[w]) - BUCKETS_PER_WINDOW;
            buckets.get(w).keySet().removeIf(index -> index <= first);
        }
        long horizon = newest - DISTINCT_MERCHANTS_WINDOW_MS;
        merchants.values().removeIf(t -> t <= horizon);
        while (merchants.size() > MAX_MERCHANTS) {
            Long oldest = null;
            long oldestTime = Long.MAX_VALUE;
            for (Map.Entry<Long, Long> entry : merchants.entrySet()) {
                if (entry.getValue() < oldestTime) { // the first of equal times, as Python's min()
                    oldest = entry.getKey();
                    oldestTime = entry.getValue();
                }
            }
            merchants.remove(oldest);
        }
    }

    /** Python's {@code round(x, digits)}: the double's exact decimal value, ties to even. */
    static double pythonRound(double x, int digits) {
        if (Double.isNaN(x) || Double.isInfinite(x)) {
            return x;
        }
        return new BigDecimal(x).setScale(digits, RoundingMode.HALF_EVEN).doubleValue();
    }

    /** A transaction's window features, filled by {@link #add}, written by their names in card_windows.py. */
    public static final class Features {
        private static final String[] COUNTS = {"txn_count_1m", "txn_count_10m", "txn_count_1h"};
        private static final String[] SUMS = {"amount_sum_1m", "amount_sum_10m", "amount_sum_1h"};

        final long[] counts = new long[WINDOWS.length];
        final double[] sums = new double[WINDOWS.length];
        int distinctMerchants;
        double secondsSincePrev;
        double amountToMeanRatio;

        /** As a JSON object: {name: value}. */
        public void writeTo(JsonGenerator json) throws IOException {
            json.writeStartObject();
            for (int w = 0; w < WINDOWS.length; w++) {
                json.writeNumberField(COUNTS[w], counts[w]);
                json.writeNumberField(SUMS[w], sums[w]);
            }
            json.writeNumberField("distinct_merchants_10m", distinctMerchants);
            json.writeNumberField("seconds_since_prev_txn", secondsSincePrev);
            json.writeNumberField("amount_to_mean_ratio", amountToMeanRatio);
            json.writeEndObject();
        }

        /** The JSON object of writeTo, as text. */
        public String toJson() {
            StringWriter text = new StringWriter(256);
            try (JsonGenerator json = new JsonFactory().createGenerator(text)) {
                writeTo(json);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return text.toString();
        }
    }
}
