package io.github.pyflinkrealtimeai.batching;

/**
 * The source's "nothing to read now", told to the batcher chained after it: both run in their
 * task's one thread (the mailbox thread), so the batcher listens on a thread-local and the
 * source's reader signals on the same thread when it has handed on everything it fetched
 * ({@code InputStatus.NOTHING_AVAILABLE}). A batch then goes out at once instead of waiting for its
 * window: at a low rate no event waits for company that is not coming, while under load the input
 * is never idle and batches grow to their maximum. No listener (another job, another thread): the
 * signal does nothing.
 */
public final class InputIdle {
    private static final ThreadLocal<Runnable> LISTENER = new ThreadLocal<>();

    private InputIdle() {
    }

    /** {@code onIdle} runs, on this thread, each time this thread's source has nothing to read. */
    static void listen(Runnable onIdle) {
        LISTENER.set(onIdle);
    }

    static void stopListening() {
        LISTENER.remove();
    }

    /** Called by a source's reader, on its task's thread, when it has nothing more to hand on now. */
    public static void signal() {
        Runnable listener = LISTENER.get();
        if (listener != null) {
            listener.run();
        }
    }
}
