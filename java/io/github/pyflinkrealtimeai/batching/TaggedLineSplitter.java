package io.github.pyflinkrealtimeai.batching;

import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * A batch's outputs, one record per line, back into records: a line is a tag character and a
 * JSON document (JSON text never holds a raw newline). {@code P}: the main output (predictions);
 * {@code A}, {@code D} and {@code S}: the side outputs {@code alerts}, {@code dead-letters} and
 * {@code shadow-scores}. {@code R}: the scoring operator's room, for the {@link ScoringGate}
 * chained before it (never a record).
 */
public final class TaggedLineSplitter extends ProcessFunction<String, String> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<String> ALERTS = new OutputTag<String>("alerts") {
        private static final long serialVersionUID = 1L;
    };
    public static final OutputTag<String> DEAD_LETTERS = new OutputTag<String>("dead-letters") {
        private static final long serialVersionUID = 1L;
    };
    public static final OutputTag<String> SHADOW_SCORES = new OutputTag<String>("shadow-scores") {
        private static final long serialVersionUID = 1L;
    };

    @Override
    public void processElement(String batch, Context ctx, Collector<String> out) {
        TaggedLines.forEach(batch, (tag, record) -> {
            switch (tag) {
                case 'P':
                    out.collect(record);
                    break;
                case 'A':
                    ctx.output(ALERTS, record);
                    break;
                case 'D':
                    ctx.output(DEAD_LETTERS, record);
                    break;
                case 'S':
                    ctx.output(SHADOW_SCORES, record);
                    break;
                case 'R':
                    ScoringRoom.report(record);
                    break;
                default:
                    throw new IllegalArgumentException("unknown output tag " + tag);
            }
        });
    }
}
