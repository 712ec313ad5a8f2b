package io.github.pyflinkrealtimeai.batching;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.runtime.tasks.ProcessingTimeService;

/**
 * An operator's one processing-time timer: a time asked for while a timer is due registers
 * nothing, so an operator that asks on every element keeps one timer mail, not one per element.
 * The callback runs in the task's mailbox, like any operator timer.
 */
final class SingleTimer {
    private final ProcessingTimeService service;
    private final ProcessingTimeCallback callback;
    private boolean due;

    SingleTimer(ProcessingTimeService service, ProcessingTimeCallback callback) {
        this.service = service;
        this.callback = callback;
    }

    /** A call at {@code timeMs}, unless one is due already. */
    void at(long timeMs) {
        if (!due) {
            service.registerTimer(timeMs, this::fire);
            due = true;
        }
    }

    /** A call {@code delayMs} from now, unless one is due already. */
    void in(long delayMs) {
        at(service.getCurrentProcessingTime() + delayMs);
    }

    private void fire(long timeMs) throws Exception {
        due = false;
        callback.onProcessingTime(timeMs);
    }
}
