package io.github.pyflinkrealtimeai.cards;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backfill's card histories for the JVM: the seed's text copy (history_seed.py writes it
 * beside the Parquet file, one {@code card_id TAB history text} line per card), read whole when
 * an operator opens. A card's text is handed on with its first transaction, as the Python parse
 * does with the Parquet seed; {@link CardWindows} starts a card with no state from it.
 */
public final class SeedTexts {
    private static final Logger LOG = LoggerFactory.getLogger(SeedTexts.class);
    private final Map<Long, String> texts;

    private SeedTexts(Map<Long, String> texts) {
        this.texts = texts;
    }

    /**
     * The seed in {@code path}, or none for "" (the job has no seed) and for a file not there where
     * this task runs (a warning, as the Python parse gives for its Parquet file: every card starts
     * empty).
     */
    public static SeedTexts load(String path) throws IOException {
        Map<Long, String> texts = new HashMap<>();
        if (!path.isEmpty() && !Files.isRegularFile(Path.of(path))) {
            LOG.warn("no card history seed at {}: every card starts with an empty history", Path.of(path).toAbsolutePath());
        } else if (!path.isEmpty()) {
            try (BufferedReader lines = Files.newBufferedReader(Path.of(path), StandardCharsets.UTF_8)) {
                String line;
                while ((line = lines.readLine()) != null) {
                    int tab = line.indexOf('\t');
                    if (tab < 0) {
                        throw new IOException(path + ": not a seed's text copy (a line without a tab)");
                    }
                    texts.put(Long.parseLong(line.substring(0, tab)), line.substring(tab + 1));
                }
            }
        }
        return new SeedTexts(texts);
    }

    /** The card's history text at the seed's end, or null for a card the seed does not hold. */
    public String text(long card) {
        return texts.get(card);
    }

    public int size() {
        return texts.size();
    }
}
