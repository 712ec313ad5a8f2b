package io.github.pyflinkrealtimeai.feast;

import java.io.IOException;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The feature job's rows written straight into Feast's Redis online store, in Feast's own layout
 * ({@link FeastRedisLayout}), with no feature server and no Python on the way: one call per merged
 * batch of card-window documents ({@code {"rows": [[event, features, received_ms], ...], "dead":
 * [...], "late": [...]}}), every row one HSET of its card's hash, the batch one pipeline, written
 * before the call returns. Nothing is in flight across a checkpoint, so a restart from one writes
 * the rows after it again (an HSET of the same row is idempotent). This is Feast's skip_dedup
 * path: no read of the stored event time first, as the job is the view's only writer and writes
 * each card's rows in event-time order. A write that fails is retried on a new connection, with
 * a doubling backoff; past the retries it fails the job, which restarts from its last checkpoint.
 *
 * <p>Out go the documents that hold dead letters or late transactions, without their rows, for
 * the dead-letter stage; an empty list (the merger's drain) needs nothing, as nothing is in flight.
 */
public final class RedisOnlineWriter extends ProcessFunction<List<String>, List<String>> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String url;
    private final String user;
    private final String passwordFile;
    private final String passwordEnv;
    private final FeastRedisLayout layout;
    private final String joinKey;
    private final int timeoutMs;
    private final int retries;
    private final long backoffMs;

    private transient Jedis redis;
    private transient byte[] timestampField;
    private transient Counter rowsWritten;
    private transient Counter pipelines;

    /**
     * {@code url}: redis://host:port[/db]; {@code user}
     * and the password's file or environment variable: empty for none.
     */
    public RedisOnlineWriter(
            String url,
            String user,
            String passwordFile,
            String passwordEnv,
            String project,
            String featureView,
            String joinKey,
            int timeoutMs,
            int retries,
            long backoffMs) {
        this.url = url;
        this.user = user;
        this.passwordFile = passwordFile;
        this.passwordEnv = passwordEnv;
        this.layout = new FeastRedisLayout(project, featureView, joinKey);
        this.joinKey = joinKey;
        this.timeoutMs = timeoutMs;
        this.retries = retries;
        this.backoffMs = backoffMs;
    }

    @Override
    public void open(Configuration parameters) {
        timestampField = layout.timestampField();
        // The names the Python push reports under, so the dashboards read either writer.
        rowsWritten = getRuntimeContext().getMetricGroup().counter("feature_rows_pushed_total");
        pipelines = getRuntimeContext().getMetricGroup().counter("feast_pushes_total");
    }

    @Override
    public void close() {
        disconnect();
    }

    @Override
    public void processElement(List<String> documents, Context ctx, Collector<List<String>> out) throws Exception {
        List<byte[]> keys = new ArrayList<>();
        List<Map<byte[], byte[]>> hashes = new ArrayList<>();
        List<String> deadLetters = new ArrayList<>();
        for (String document : documents) {
            if (document.isEmpty()) {
                continue;
            }
            JsonNode parsed = MAPPER.readTree(document);
            for (JsonNode row : parsed.get("rows")) {
                JsonNode event = row.get(0);
                keys.add(layout.key(event.get(joinKey).asLong()));
                hashes.add(hashOf(event.get("event_time_ms").asLong(), row.get(1)));
            }
            if (parsed.get("dead").size() > 0 || parsed.get("late").size() > 0) {
                deadLetters.add(withoutRows(parsed));
            }
        }
        if (!keys.isEmpty()) {
            write(keys, hashes);
            rowsWritten.inc(keys.size());
            pipelines.inc();
        }
        if (!deadLetters.isEmpty()) {
            out.collect(deadLetters);
        }
    }

    private Map<byte[], byte[]> hashOf(long eventTimeMs, JsonNode features) {
        Map<byte[], byte[]> hash = new HashMap<>();
        hash.put(timestampField, FeastRedisLayout.timestamp(eventTimeMs));
        Iterator<Map.Entry<String, JsonNode>> fields = features.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> feature = fields.next();
            JsonNode value = feature.getValue();
            // The JVM writes the view's Int64 features as JSON integers, its Float64 ones with a point.
            byte[] encoded = value.isIntegralNumber()
                    ? FeastRedisLayout.int64Value(value.asLong())
                    : FeastRedisLayout.doubleValue(value.asDouble());
            hash.put(layout.fieldName(feature.getKey()), encoded);
        }
        return hash;
    }

    private static String withoutRows(JsonNode parsed) throws IOException {
        StringWriter text = new StringWriter();
        try (JsonGenerator json = MAPPER.getFactory().createGenerator(text)) {
            json.writeStartObject();
            json.writeArrayFieldStart("rows");
            json.writeEndArray();
            json.writeFieldName("dead");
            json.writeTree(parsed.get("dead"));
            json.writeFieldName("late");
            json.writeTree(parsed.get("late"));
            json.writeEndObject();
        }
        return text.toString();
    }

    private void write(List<byte[]> keys, List<Map<byte[], byte[]>> hashes) throws IOException, InterruptedException {
        for (int attempt = 0; ; attempt++) {
            try {
                if (redis == null) {
                    redis = connect();
                }
                Pipeline pipeline = redis.pipelined();
                for (int i = 0; i < keys.size(); i++) {
                    pipeline.hset(keys.get(i), hashes.get(i));
                }
                for (Object reply : pipeline.syncAndReturnAll()) {
                    if (reply instanceof Exception) {
                        throw new JedisException("HSET refused: " + ((Exception) reply).getMessage());
                    }
                }
                return;
            } catch (JedisException failed) {
                disconnect();
                if (attempt >= retries) {
                    throw new IOException(
                            "writing " + keys.size() + " rows to Feast's Redis online store at " + url + " failed after "
                                    + (attempt + 1) + " attempts: " + failed.getMessage(),
                            failed);
                }
                Thread.sleep(backoffMs << attempt);
            }
        }
    }

    private Jedis connect() throws IOException {
        URI address = URI.create(url);
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder().timeoutMillis(timeoutMs);
        String path = address.getPath();
        if (path != null && path.length() > 1) {
            config.database(Integer.parseInt(path.substring(1)));
        }
        if (!user.isEmpty()) {
            config.user(user);
        }
        String password = password();
        if (!password.isEmpty()) {
            config.password(password);
        }
        int port = address.getPort() == -1 ? 6379 : address.getPort();
        return new Jedis(new HostAndPort(address.getHost(), port), config.build());
    }

    private String password() throws IOException {
        if (!passwordEnv.isEmpty()) {
            String value = System.getenv(passwordEnv);
            if (value == null || value.isBlank()) {
                throw new IOException("the Redis password's environment variable " + passwordEnv + " is not set");
            }
            return value.strip();
        }
        if (!passwordFile.isEmpty()) {
            return new String(Files.readAllBytes(Path.of(passwordFile)), StandardCharsets.UTF_8).strip();
        }
        return "";
    }

    private void disconnect() {
        if (redis != null) {
            try {
                redis.close();
            } catch (JedisException ignored) {
                // the connection is dropped either way; a new one is made for the next write
            }
            redis = null;
        }
    }
}
