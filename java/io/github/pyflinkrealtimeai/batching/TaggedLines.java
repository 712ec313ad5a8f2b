package io.github.pyflinkrealtimeai.batching;

/**
 * A Python operator's output as one string of tagged lines: each line a tag character and a JSON
 * document (JSON text never holds a raw newline); empty lines are skipped.
 */
final class TaggedLines {
    private TaggedLines() {}

    /** What a line is handed to. */
    interface LineConsumer {
        void accept(char tag, String document);
    }

    static void forEach(String lines, LineConsumer consumer) {
        int start = 0;
        int length = lines.length();
        while (start < length) {
            int end = lines.indexOf('\n', start);
            if (end < 0) {
                end = length;
            }
            if (end > start + 1) {
                consumer.accept(lines.charAt(start), lines.substring(start + 1, end));
            }
            start = end + 1;
        }
    }
}
