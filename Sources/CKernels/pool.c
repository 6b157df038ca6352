// A small pool of helper threads for the parallel regions of a training step. A step runs about
// 200 regions of 20 µs to 1 ms each, back to back; a helper that went to sleep after each one (as
// Dispatch's workers do) has to be woken by the kernel for the next, and the region waits for it.
// Here a helper spins on its ticket for a short while after its work (FK_POOL_SPIN_NS, yielding
// after the first eighth of it) and only then sleeps on a condition variable, so within a step it
// never sleeps, and between steps (communication, evaluation) it gives its core back within a
// fraction of a millisecond. The caller runs a helper's share itself when that helper has not
// started by the time the caller's own share is done, so a helper without a core costs no more
// than running the region on one thread. Which thread runs a share never changes its range, so
// results do not depend on it.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include "CKernels.h"

enum { FK_POOL_MAX = 64 };
static const long FK_POOL_SPIN_NS = 200000;  // 0.2 ms: covers the serial gaps inside a step

static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers, remaining;
static int helpers;  // started so far (only grows; guarded by region_lock)
static _Thread_local int inside_pool;  // set on helpers and while the caller runs its share

/// One helper's assignment, on its own cache line: written by the caller, then published by `ticket`.
/// Whoever moves `claimed` from ticket - 1 to ticket runs it: the helper, or the caller when the
/// helper has not started by the time the caller's own share is done (a helper that lost its core
/// to another process then costs no more than running the region on one thread).
struct helper_slot {
    _Atomic unsigned long ticket, claimed;
    fk_pool_task task;
    void *context;
    long worker;
} __attribute__((aligned(64)));
static struct helper_slot slots[FK_POOL_MAX];

static inline void pause_briefly(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/// Waits for the slot's ticket to move past `seen`: spinning first, then asleep.
static unsigned long wait_for_work(struct helper_slot *slot, unsigned long seen) {
    long start = now_ns();
    for (unsigned spins = 0;; spins++) {
        unsigned long t = atomic_load_explicit(&slot->ticket, memory_order_acquire);
        if (t != seen) return t;
        pause_briefly();
        if ((spins & 255) != 255) continue;
        long waited = now_ns() - start;
        if (waited > FK_POOL_SPIN_NS) break;
        if (waited > FK_POOL_SPIN_NS / 8) sched_yield();  // past the usual gap: let other runnable threads in
    }
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add(&sleepers, 1);
    unsigned long t;
    while ((t = atomic_load(&slot->ticket)) == seen) pthread_cond_wait(&wake, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
    return t;
}

/// Takes the slot's assignment number `ticket`; false when the other side took it.
static int claim(struct helper_slot *slot, unsigned long ticket) {
    unsigned long expected = ticket - 1;
    return atomic_compare_exchange_strong(&slot->claimed, &expected, ticket);
}

static void *helper_main(void *arg) {
    struct helper_slot *slot = arg;
    inside_pool = 1;
    unsigned long seen = 0;
    for (;;) {
        seen = wait_for_work(slot, seen);
        if (!claim(slot, seen)) continue;
        slot->task(slot->context, slot->worker);
        atomic_fetch_sub_explicit(&remaining, 1, memory_order_release);
    }
    return 0;
}

/// Runs task(context, w) for w in 0..<workers; the caller runs w = 0, helper w - 1 the others.
/// Nested or concurrent calls, and a pool that cannot start its threads, run every w on the
/// calling thread, in order.
void fk_pool_run(long workers, fk_pool_task task, void *context) {
    int inline_only = workers <= 1 || workers > FK_POOL_MAX || inside_pool || pthread_mutex_trylock(&region_lock) != 0;
    if (!inline_only) {
        while (helpers < workers - 1) {
            pthread_t thread;
            if (pthread_create(&thread, 0, helper_main, &slots[helpers]) != 0) break;
            pthread_detach(thread);
            helpers++;
        }
        if (helpers < workers - 1) {
            pthread_mutex_unlock(&region_lock);
            inline_only = 1;
        }
    }
    if (inline_only) {
        for (long w = 0; w < workers; w++) task(context, w);
        return;
    }
    atomic_store(&remaining, (int)(workers - 1));
    for (long w = 1; w < workers; w++) {
        struct helper_slot *slot = &slots[w - 1];
        slot->task = task;
        slot->context = context;
        slot->worker = w;
        atomic_fetch_add(&slot->ticket, 1);  // sequentially consistent: pairs with the sleepers count
    }
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    inside_pool = 1;
    task(context, 0);
    for (long w = 1; w < workers; w++) {
        struct helper_slot *slot = &slots[w - 1];
        if (!claim(slot, atomic_load(&slot->ticket))) continue;
        task(context, w);
        atomic_fetch_sub_explicit(&remaining, 1, memory_order_release);
    }
    inside_pool = 0;
    for (unsigned spins = 0; atomic_load_explicit(&remaining, memory_order_acquire) > 0; spins++) {
        pause_briefly();
        if (spins > 2000) sched_yield();  // a running helper lost its core to another process
    }
    pthread_mutex_unlock(&region_lock);
}
