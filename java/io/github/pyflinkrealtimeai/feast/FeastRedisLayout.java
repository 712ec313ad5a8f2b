package io.github.pyflinkrealtimeai.feast;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * How Feast's Redis online store lays out one feature view's rows (feast/infra/online_stores/redis.py
 * with entity_key_serialization_version 3), for an entity with one int64 join key: a hash per entity
 * under the key {@code serialized entity key + project}, one field per feature named by the
 * little-endian murmur3_32 of {@code "view:feature"} holding a serialized {@code feast.types.Value},
 * and the field {@code "_ts:view"} holding the row's event time as a {@code google.protobuf.Timestamp}.
 * Feast's feature server reads what this writes, as it reads its own writes.
 */
public final class FeastRedisLayout implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private static final int STRING_TYPE = 2; // feast.types.ValueType.STRING, a join key's name
    private static final int INT64_TYPE = 4; // feast.types.ValueType.INT64
    private static final int INT64_VAL_TAG = 4 << 3; // Value.int64_val = 4, varint
    private static final int DOUBLE_VAL_TAG = (5 << 3) | 1; // Value.double_val = 5, fixed64

    private final String featureView;
    private final byte[] keyPrefix; // the serialized key up to the entity's value
    private final byte[] project;
    private transient Map<String, byte[]> fieldNames;

    public FeastRedisLayout(String project, String featureView, String joinKey) {
        this.featureView = featureView;
        this.project = project.getBytes(StandardCharsets.UTF_8);
        byte[] name = joinKey.getBytes(StandardCharsets.UTF_8);
        ByteBuffer prefix = littleEndian(4 * 3 + name.length + 4 * 2);
        prefix.putInt(1).putInt(STRING_TYPE).putInt(name.length).put(name).putInt(INT64_TYPE).putInt(8);
        this.keyPrefix = prefix.array();
    }

    /** The Redis key of the entity whose join key is {@code entity}. */
    public byte[] key(long entity) {
        return littleEndian(keyPrefix.length + 8 + project.length).put(keyPrefix).putLong(entity).put(project).array();
    }

    /** The hash field of a feature of this view. */
    public byte[] fieldName(String feature) {
        if (fieldNames == null) {
            fieldNames = new HashMap<>();
        }
        return fieldNames.computeIfAbsent(feature, f -> {
            int hash = Murmur3.hash32((featureView + ":" + f).getBytes(StandardCharsets.UTF_8));
            return littleEndian(4).putInt(hash).array();
        });
    }

    /** The field that holds the row's event time. */
    public byte[] timestampField() {
        return ("_ts:" + featureView).getBytes(StandardCharsets.UTF_8);
    }

    /** A {@code feast.types.Value} with int64_val set. */
    public static byte[] int64Value(long value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(11);
        out.write(INT64_VAL_TAG);
        writeVarint(out, value);
        return out.toByteArray();
    }

    /** A {@code feast.types.Value} with double_val set. */
    public static byte[] doubleValue(double value) {
        return littleEndian(9).put((byte) DOUBLE_VAL_TAG).putDouble(value).array();
    }

    /** A {@code google.protobuf.Timestamp} of epoch milliseconds (fields at their default left out). */
    public static byte[] timestamp(long epochMs) {
        long seconds = Math.floorDiv(epochMs, 1000L);
        long nanos = Math.floorMod(epochMs, 1000L) * 1_000_000L;
        ByteArrayOutputStream out = new ByteArrayOutputStream(12);
        if (seconds != 0) {
            out.write(1 << 3);
            writeVarint(out, seconds);
        }
        if (nanos != 0) {
            out.write(2 << 3);
            writeVarint(out, nanos);
        }
        return out.toByteArray();
    }

    private static void writeVarint(ByteArrayOutputStream out, long value) {
        while ((value & ~0x7FL) != 0) {
            out.write((int) ((value & 0x7F) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    private static ByteBuffer littleEndian(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
