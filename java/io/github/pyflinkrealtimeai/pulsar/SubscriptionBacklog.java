package io.github.pyflinkrealtimeai.pulsar;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backlog of a subscription on the topics one source reader reads, in messages, from the
 * broker's topic stats (the admin REST API): the source's {@code pendingRecords}, which the Pulsar connector does
 * not report, so that Flink's autoscaler sees a backlog as work to catch up with and not only as
 * busy time. A reader reports the topics (partitions) it has read from, so the sum over a source's
 * subtasks is the subscription's backlog once. The value is refreshed in the background when read
 * and older than {@code REFRESH_MS}; a reading is never blocked on the broker, and a failed
 * refresh keeps the last value (-1 before the first) and is logged once until one succeeds.
 */
final class SubscriptionBacklog implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final long REFRESH_MS = 5_000;
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = LoggerFactory.getLogger(SubscriptionBacklog.class);

    private final String adminUrl;
    private final String trustCertsFile; // PEM, "" for the system's CAs
    private final String tokenAuthParams; // "file:///path", "token:<value>" or "" (none)

    private transient String subscription;
    private transient Set<String> topics;
    private transient HttpClient http;
    private transient AtomicBoolean refreshing;
    private transient volatile long backlog;
    private transient volatile long refreshedAtMs;
    private transient volatile boolean failing;

    SubscriptionBacklog(String adminUrl, String trustCertsFile, String tokenAuthParams) {
        this.adminUrl = adminUrl.replaceAll("/+$", "");
        this.trustCertsFile = trustCertsFile;
        this.tokenAuthParams = tokenAuthParams;
    }

    /**
     * @param readTopics the topics (partitions) this reader has read from, a live view that the
     *     reader's thread adds to and a metric reporter's thread reads
     */
    void open(String subscriptionName, Set<String> readTopics) {
        subscription = subscriptionName;
        topics = readTopics;
        refreshing = new AtomicBoolean();
        backlog = -1;
        refreshedAtMs = 0;
        failing = false;
        try {
            HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(TIMEOUT);
            if (!trustCertsFile.isEmpty()) {
                builder.sslContext(trusting(Path.of(trustCertsFile)));
            }
            http = builder.build();
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the Pulsar TLS trust certificates " + trustCertsFile, e);
        }
    }

    /** The last known backlog; starts a refresh when it is older than REFRESH_MS. */
    long pendingRecords() {
        long now = System.currentTimeMillis();
        if (now - refreshedAtMs >= REFRESH_MS && !topics.isEmpty() && refreshing.compareAndSet(false, true)) {
            refresh(now);
        }
        return backlog;
    }

    private void refresh(long startedMs) {
        List<CompletableFuture<Long>> each = new ArrayList<>();
        try {
            for (String topic : topics) {
                each.add(http.sendAsync(request(topic), HttpResponse.BodyHandlers.ofString())
                        .thenApply(this::subscriptionBacklog));
            }
        } catch (IOException | RuntimeException e) {
            failed(e);
            refreshedAtMs = startedMs;
            refreshing.set(false);
            return;
        }
        CompletableFuture.allOf(each.toArray(new CompletableFuture<?>[0])).whenComplete((ignored, error) -> {
            if (error == null) {
                backlog = each.stream().mapToLong(CompletableFuture::join).sum();
                if (failing) {
                    LOG.info("the backlog of subscription {} is read again: {}", subscription, backlog);
                    failing = false;
                }
            } else {
                failed(error);
            }
            refreshedAtMs = startedMs; // a failed attempt waits its turn too
            refreshing.set(false);
        });
    }

    private void failed(Throwable error) {
        if (!failing) {
            LOG.warn("cannot read the backlog of subscription {} from {} (pendingRecords keeps {}): {}",
                    subscription, adminUrl, backlog, error.toString());
            failing = true;
        }
    }

    private HttpRequest request(String topic) throws IOException {
        // persistent://tenant/namespace/topic -> /admin/v2/persistent/tenant/namespace/topic/stats
        String[] parts = topic.split("://", 2);
        String[] path = parts[1].split("/", 3);
        String url = String.format("%s/admin/v2/%s/%s/%s/%s/stats?subscriptionBacklogSize=true", adminUrl, parts[0],
                encode(path[0]), encode(path[1]), encode(path[2]));
        HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(url)).timeout(TIMEOUT).GET();
        String token = token();
        if (!token.isEmpty()) {
            builder.header("Authorization", "Bearer " + token);
        }
        return builder.build();
    }

    private long subscriptionBacklog(HttpResponse<String> response) {
        if (response.statusCode() != 200) {
            throw new IllegalStateException("topic stats answered " + response.statusCode());
        }
        try {
            JsonNode stats = JSON.readTree(response.body());
            JsonNode found = stats.path("subscriptions").path(subscription);
            return inMessages(found.path("msgBacklog").asLong(0), found.path("backlogSize").asLong(0),
                    stats.path("msgInCounter").asLong(0), stats.path("bytesInCounter").asLong(0));
        } catch (IOException e) {
            throw new IllegalStateException("topic stats are not JSON", e);
        }
    }

    /**
     * The backlog in messages. Pulsar's msgBacklog counts entries, and a producer's batch is one
     * entry (PIP-216 is open), so on batched input it counts batches: the backlog's bytes over the
     * topic's bytes per message since it was loaded count messages, whatever the batching. At
     * least one message per entry; the entries alone while the topic has taken nothing in since
     * it was loaded (a broker restart resets its counters).
     */
    static long inMessages(long entries, long backlogBytes, long messagesIn, long bytesIn) {
        if (messagesIn <= 0 || bytesIn <= 0) {
            return entries;
        }
        return Math.max(entries, Math.round(backlogBytes * ((double) messagesIn / bytesIn)));
    }

    /** The token, read at each refresh from its file (a rotated token is picked up). */
    private String token() throws IOException {
        if (tokenAuthParams.startsWith("file:")) {
            return Files.readString(Path.of(URI.create(tokenAuthParams))).trim();
        }
        return tokenAuthParams.startsWith("token:") ? tokenAuthParams.substring("token:".length()) : "";
    }

    private static String encode(String part) {
        return URLEncoder.encode(part, StandardCharsets.UTF_8);
    }

    private static SSLContext trusting(Path pem) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        int i = 0;
        for (Certificate certificate : CertificateFactory.getInstance("X.509")
                .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(pem)))) {
            store.setCertificateEntry("ca-" + i++, certificate);
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }
}
