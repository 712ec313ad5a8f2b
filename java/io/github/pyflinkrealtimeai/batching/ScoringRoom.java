package io.github.pyflinkrealtimeai.batching;

/**
 * What the scoring operator last said about its batches, for the {@link ScoringGate} before it:
 * how many are not yet taken (under way, or scored and not yet emitted), whether one more would
 * start at once, and the pipe on which its scoring loop writes a byte whenever a batch is done. The scoring operator (Python) reports it as its output's {@code R} line, which
 * the {@link TaggedLineSplitter} after it hands here. The gate, the scoring operator and the
 * splitter are one chain, so all three run on one task thread and the report arrives before the
 * gate's call into the scoring operator returns: the room is held per thread.
 */
final class ScoringRoom {
    private static final ThreadLocal<ScoringRoom> ON_THIS_THREAD = new ThreadLocal<>();

    private int notTaken;
    private boolean hasRoom = true;
    private int doneSignalFd = -1;
    private long reports;

    private ScoringRoom() {}

    /** The room of the gate opening on this thread. */
    static ScoringRoom openOnThisThread() {
        ScoringRoom room = new ScoringRoom();
        ON_THIS_THREAD.set(room);
        return room;
    }

    static void closeOnThisThread() {
        ON_THIS_THREAD.remove();
    }

    /**
     * The scoring operator's report: {@code "<batches not taken> <1 if one more starts at once>
     * <the done signal's read end, a file descriptor of this process>"}.
     */
    static void report(String status) {
        ScoringRoom room = ON_THIS_THREAD.get();
        if (room == null) {
            throw new IllegalStateException(
                    "the scoring operator reported its batches on a thread with no scoring gate: the "
                            + "gate, the scoring operator and the line splitter must be chained");
        }
        String[] fields = status.split(" ");
        room.notTaken = Integer.parseInt(fields[0]);
        room.hasRoom = fields[1].equals("1");
        room.doneSignalFd = Integer.parseInt(fields[2]);
        room.reports++;
    }

    int notTaken() {
        return notTaken;
    }

    boolean hasRoom() {
        return hasRoom;
    }

    /** -1 before the first report. */
    int doneSignalFd() {
        return doneSignalFd;
    }

    long reports() {
        return reports;
    }
}
