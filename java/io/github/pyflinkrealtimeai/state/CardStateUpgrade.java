package io.github.pyflinkrealtimeai.state;

import io.github.pyflinkrealtimeai.batching.KeyGroupRouting;
import io.github.pyflinkrealtimeai.cards.CardWindows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.OperatorTransformation;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.SavepointWriter;
import org.apache.flink.state.api.StateBootstrapTransformation;
import org.apache.flink.state.api.functions.KeyedStateBootstrapFunction;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

/**
 * A savepoint's card state from the python batching design (a value state per card, the card's
 * versioned history text) to the java design's (a map state per key group: card id to the same
 * text), every other operator's state kept: the source's positions carry over. The operators the
 * java design does not have are removed; the savepoint is refused when one of them still holds
 * events (a batch under way when it was taken), so nothing read is lost.
 *
 * <p>Arguments: the savepoint (or retained checkpoint) directory, the new savepoint's directory,
 * the old card operator's uid and state name, the new one's uid and state name, max parallelism,
 * then any number of {@code uid:mapStateName} pairs of operators to remove, each refused while its
 * map state holds entries ({@code uid:} alone: removed without a check).
 */
public final class CardStateUpgrade {
    private CardStateUpgrade() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            throw new IllegalArgumentException(
                    "usage: CardStateUpgrade IN OUT OLD_UID OLD_STATE NEW_UID NEW_STATE MAX_PARALLELISM [UID:MAP_STATE ...]");
        }
        String in = args[0];
        String out = args[1];
        OperatorIdentifier oldOperator = OperatorIdentifier.forUid(args[2]);
        String oldState = args[3];
        OperatorIdentifier newOperator = OperatorIdentifier.forUid(args[4]);
        String newState = args[5];
        int maxParallelism = Integer.parseInt(args[6]);
        List<String[]> removed = new ArrayList<>();
        for (int i = 7; i < args.length; i++) {
            removed.add(args[i].split(":", 2));
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(new Configuration());
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);
        env.setParallelism(1);
        HashMapStateBackend backend = new HashMapStateBackend();
        for (String[] operator : removed) {
            if (!operator[1].isEmpty()) {
                refuseWhileHolding(env, in, backend, operator[0], operator[1]);
            }
        }

        SavepointReader reader = SavepointReader.read(env, in, backend);
        DataStream<Tuple2<Long, String>> cards = reader.readKeyedState(
                oldOperator,
                new CardHistories(oldState),
                Types.ROW(Types.LONG),
                Types.TUPLE(Types.LONG, Types.STRING));
        int[] keys = KeyGroupRouting.keyGroupKeys(maxParallelism);
        KeySelector<Tuple2<Long, String>, Row> keyGroupKey =
                card -> Row.of(keys[KeyGroupRouting.keyGroupOf(card.f0, maxParallelism)]);
        StateBootstrapTransformation<Tuple2<Long, String>> histories = OperatorTransformation.bootstrapWith(cards)
                .setMaxParallelism(maxParallelism)
                .keyBy(keyGroupKey, Types.ROW(Types.INT))
                .transform(new KeyGroupHistories(newState));
        SavepointWriter writer = SavepointWriter.fromExistingSavepoint(env, in, backend).removeOperator(oldOperator);
        for (String[] operator : removed) {
            writer = writer.removeOperator(OperatorIdentifier.forUid(operator[0]));
        }
        writer.withOperator(newOperator, histories).write(out);
        env.execute("card state upgrade");
    }

    @SuppressWarnings("try") // the collecting iterator's close() may throw InterruptedException: main passes it on
    private static void refuseWhileHolding(
            StreamExecutionEnvironment env, String in, HashMapStateBackend backend, String uid, String state)
            throws Exception {
        DataStream<Long> held = SavepointReader.read(env, in, backend)
                .readKeyedState(OperatorIdentifier.forUid(uid), new EntryCount(state), Types.ROW(Types.INT), Types.LONG);
        long entries = 0;
        try (CloseableIterator<Long> counts = held.executeAndCollect("entries held by " + uid)) {
            while (counts.hasNext()) {
                entries += counts.next();
            }
        }
        if (entries > 0) {
            throw new IllegalStateException(String.format(
                    "%s still holds %d entries of %s (events under way when the savepoint was taken): take it when "
                            + "the job's input has been quiet for a moment, so nothing read is lost",
                    uid, entries, state));
        }
    }

    /** Each card's history text, read under its card key. */
    static final class CardHistories extends KeyedStateReaderFunction<Row, Tuple2<Long, String>> {
        private static final long serialVersionUID = 1L;
        private final String name;
        private transient ValueState<String> history;

        CardHistories(String name) {
            this.name = name;
        }

        @Override
        public void open(Configuration parameters) {
            history = getRuntimeContext().getState(new ValueStateDescriptor<>(name, Types.STRING));
        }

        @Override
        public void readKey(Row key, Context context, Collector<Tuple2<Long, String>> out) throws Exception {
            String text = history.value();
            if (text != null) {
                out.collect(Tuple2.of((Long) key.getField(0), text));
            }
        }
    }

    /** The cards' histories written into their key group's map state. */
    static final class KeyGroupHistories extends KeyedStateBootstrapFunction<Row, Tuple2<Long, String>> {
        private static final long serialVersionUID = 1L;
        private final String name;
        private transient MapState<Long, String> histories;

        KeyGroupHistories(String name) {
            this.name = name;
        }

        @Override
        public void open(Configuration parameters) {
            histories = getRuntimeContext().getMapState(CardWindows.versionedTexts(name));
        }

        @Override
        public void processElement(Tuple2<Long, String> card, Context context) throws Exception {
            histories.put(card.f0, card.f1);
        }
    }

    /** How many entries a key's map state holds. */
    static final class EntryCount extends KeyedStateReaderFunction<Row, Long> {
        private static final long serialVersionUID = 1L;
        private final String name;
        private transient MapState<Long, String> entries;

        EntryCount(String name) {
            this.name = name;
        }

        @Override
        public void open(Configuration parameters) {
            entries = getRuntimeContext().getMapState(CardWindows.versionedTexts(name));
        }

        @Override
        public void readKey(Row key, Context context, Collector<Long> out) throws Exception {
            long count = 0;
            for (Map.Entry<Long, String> ignored : entries.entries()) {
                count++;
            }
            out.collect(count);
        }
    }
}
