// The next (batch, head) pair's rows, fetched ahead a line at a time by the fused attention kernels
// (attention_impl.h). Independent of the vector width; included once per kernel path.
#ifndef FEDCYBGD_LINES_AHEAD_H
#define FEDCYBGD_LINES_AHEAD_H
#include <stddef.h>

/// The rows of the next (batch, head) pair's operands, [seq, hs] slices with their own row strides,
/// walked one 64-byte line per `fetch_next_line`. The weighted-sum loops call it once per step, so
/// the fetches spread over the pair's work in proportion to it. Issued in a burst per query tile
/// instead, they came mostly during the causal mask's short early tiles and left misses exposed
/// (the attention line of `fedcybgd bench` measures it inside the step; see docs/PERFORMANCE.md).
/// Up to seven streams: the backward pass's q, k, v, dY, dQ, dK and dV.
struct lines_ahead {
    const float *base[7];
    size_t stride[7];
    int for_write[7], streams;
    size_t seq, hs, stream, row, column;
};

static void lines_ahead_add(struct lines_ahead *a, const float *base, size_t stride, int for_write) {
    a->base[a->streams] = base;
    a->stride[a->streams] = stride;
    a->for_write[a->streams] = for_write;
    a->streams++;
}

static inline __attribute__((always_inline)) void fetch_next_line(struct lines_ahead *a) {
    if (a->stream >= (size_t)a->streams) return;
    const float *line = a->base[a->stream] + a->row * a->stride[a->stream] + a->column;
    if (a->for_write[a->stream]) __builtin_prefetch(line, 1, 3);
    else __builtin_prefetch(line, 0, 3);
    a->column += 16;
    if (a->column < a->hs) return;
    a->column = 0;
    if (++a->row < a->seq) return;
    a->row = 0;
    a->stream++;
}

#endif
