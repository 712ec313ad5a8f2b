package io.github.pyflinkrealtimeai.batching;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;
import org.apache.flink.util.OutputTag;

/**
 * A parse stage's output for one fetch (one string of tagged lines, {@code E} a parsed event, a
 * JSON object whose top-level {@code entityField} is its entity, {@code D} a dead letter) into
 * batches per key group of the entity ({@link KeyGroupRouting}), all handed on at the end of the
 * string: the fetch was batched before the parse, so nothing waits here, and no state is needed.
 * Dead letters leave on the side output {@link #DEAD_LETTERS}.
 */
public final class ParsedKeyGroups extends AbstractStreamOperator<Row> implements OneInputStreamOperator<String, Row> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<String> DEAD_LETTERS = new OutputTag<String>("parse-dead-letters") {
        private static final long serialVersionUID = 1L;
    };

    private final String entityField;
    private final int maxParallelism;

    private transient KeyGroupRouting routing;

    public ParsedKeyGroups(String entityField, int maxParallelism) {
        this.entityField = entityField;
        this.maxParallelism = maxParallelism;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        routing = new KeyGroupRouting(entityField, maxParallelism, this);
    }

    @Override
    public void processElement(StreamRecord<String> element) {
        TaggedLines.forEach(element.getValue(), (tag, line) -> {
            switch (tag) {
                case 'E':
                    Long entity = routing.entityOf(line);
                    if (entity == null) {
                        throw new IllegalArgumentException("a parsed event without an integer " + entityField);
                    }
                    routing.add(entity, line);
                    break;
                case 'D':
                    output.collect(DEAD_LETTERS, new StreamRecord<>(line));
                    break;
                default:
                    throw new IllegalArgumentException("unknown line tag " + tag);
            }
        });
        routing.flush(output);
    }
}
