/* Frames back to the caller: the space's frames hook hears of every frame an unmap or a
 * replace removed, after the flush that covers it; data frames of the arena can be given
 * back and reused. */
#include "support/vt_cr.h"

typedef struct log_s {
    uint64_t flushes;      /* flush batches dispatched */
    uint64_t flushed_all;  /* of which "flush everything" */
    uint64_t calls, bytes; /* frames hook */
    uint64_t pa[1024], len[1024];
    uint64_t flushes_at[1024]; /* flushes dispatched when each run came back */
} log_t;

static log_t lg;
static vms_space_t sp;
static vms_machine_t mach;

static void on_flush(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    log_t *l = (log_t *)user;
    (void)cpus;
    l->flushes++;
    if (b->all) l->flushed_all++;
}

static void on_frames(void *user, uint64_t pa, uint64_t len) {
    log_t *l = (log_t *)user;
    if (l->calls < 1024) {
        l->pa[l->calls] = pa;
        l->len[l->calls] = len;
        l->flushes_at[l->calls] = l->flushes;
    }
    l->calls++;
    l->bytes += len;
}

static void setup(void) {
    vms_space_desc_t d;
    memset(&lg, 0, sizeof lg);
    vms_machine_init(&mach);
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)32 << 20;
    d.flush = on_flush;
    d.frames = on_frames;
    d.hook_user = &lg;
    d.machine = &mach;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
}
static void teardown(void) {
    vt_expect_wellformed(&sp);
    cr_assert(eq(int, vms_space_deactivate(&sp, 0), VMS_OK));
    vms_space_destroy(&sp);
}

TestSuite(frames, .init = setup, .fini = teardown);

Test(frames, unmap_hands_back_one_run_after_the_flush) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 16 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x400000, 16 * K4), VMS_OK));
    cr_assert(eq(u64, lg.calls, 1));
    cr_expect(eq(u64, lg.pa[0], 0x800000));
    cr_expect(eq(u64, lg.len[0], 16 * K4));
    cr_expect(eq(u64, lg.flushes_at[0], 1), "the flush came first");
}

Test(frames, single_page_and_huge_pages) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1, 2 * G1, 2 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x401000, K4), VMS_OK)); /* the one-leaf path */
    cr_assert(eq(u64, lg.calls, 1));
    cr_expect(eq(u64, lg.pa[0], 0x801000));
    cr_expect(eq(u64, lg.len[0], K4));
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + M2, M2), VMS_OK));
    cr_assert(eq(u64, lg.calls, 2));
    cr_expect(eq(u64, lg.pa[1], 2 * G1 + M2));
    cr_expect(eq(u64, lg.len[1], M2));
    /* Part of a huge page: split, then only the part goes. */
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + 8 * K4, 4 * K4), VMS_OK));
    cr_assert(eq(u64, lg.calls, 3));
    cr_expect(eq(u64, lg.pa[2], 2 * G1 + 8 * K4));
    cr_expect(eq(u64, lg.len[2], 4 * K4));
    cr_expect(eq(u64, vt_mapped_total(&sp), K4 + M2 - 4 * K4));
}

/* Scattered frames: more separate runs than a cursor holds come back along the way, each
 * after a flush of everything; every frame comes back exactly once. */
Test(frames, scattered_frames_each_once) {
    static uint64_t frame_of[600];
    for (uint64_t i = 0; i < 600; i++) {
        frame_of[i] = 0x10000000 + ((i * 7919) % 600) * 2 * K4;
        cr_assert(eq(int, vms_space_map(&sp, 0x400000 + i * K4, frame_of[i], K4, VMS_RW, 0),
                     VMS_OK));
    }
    cr_assert(eq(int, vms_space_unmap(&sp, 0x400000, 600 * K4), VMS_OK));
    cr_expect(eq(u64, lg.bytes, 600 * K4));
    cr_assert(eq(u64, lg.calls, 600)); /* no two frames adjacent */
    for (uint64_t c = 0; c < lg.calls; c++) {
        cr_expect(gt(u64, lg.flushes_at[c], 0), "run %llu came back before any flush",
                  VT_ULL(c));
        cr_expect(eq(u64, lg.len[c], K4)); /* none adjacent */
    }
    cr_expect(gt(u64, lg.flushed_all, 0), "an early hand-back flushes everything");
    for (uint64_t i = 0; i < 600; i++) {
        int seen = 0;
        for (uint64_t c = 0; c < lg.calls; c++) seen += lg.pa[c] == frame_of[i];
        cr_expect(eq(int, seen, 1), "frame %#llx came back %d times", VT_ULL(frame_of[i]), seen);
    }
}

Test(frames, replace_hands_back_what_it_replaced) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 4 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x401000, 0x900000, 2 * K4, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK));
    cr_assert(eq(u64, lg.calls, 1));
    cr_expect(eq(u64, lg.pa[0], 0x801000));
    cr_expect(eq(u64, lg.len[0], 2 * K4));
    /* A 2 MiB page over a table of small pages: the subtree's frames come back. */
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x1000000, M2, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK));
    cr_expect(eq(u64, lg.bytes, 2 * K4 + 4 * K4));
    vt_expect_page(&sp, 0x400000, 0x400000, 0x1000000, M2, VMS_R);
}

Test(frames, protect_and_harvest_hand_back_nothing) {
    vms_harvest_t h;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 4 * K4, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 0x400000, 4 * K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&sp, 0x400000, 4 * K4, VMS_W, 0), VMS_OK));
    memset(&h, 0, sizeof h);
    h.bits = VMS_DIRTY;
    h.flags = VMS_HARVEST_CLEAR;
    cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, 4 * K4, &h), VMS_OK));
    cr_expect(eq(u64, lg.calls, 0));
}

/* A cursor hands frames back when it closes, not before (the flush is still pending). */
Test(frames, a_cursor_hands_back_at_close) {
    vms_cursor_t c;
    uint64_t gone = 0;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 8 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x400000, 8 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, 4 * K4, &gone), VMS_OK));
    cr_expect(eq(u64, gone, 4 * K4));
    cr_expect(eq(u64, lg.calls, 0));
    cr_expect(eq(u64, lg.flushes, 0));
    vms_cursor_close(&c);
    cr_expect(eq(u64, lg.calls, 1));
    cr_expect(eq(u64, lg.flushes_at[0], 1));
}

/* ---- a concurrent space waits out a grace period before handing frames back ---- */
static int grace_retires, grace_barriers;
static void g_enter(void *u) { (void)u; }
static void g_leave(void *u) { (void)u; }
static void g_retire(void *u, void (*done)(void *, uint64_t), void *ctx, uint64_t list) {
    (void)u;
    grace_retires++;
    done(ctx, list);
}
static void g_barrier(void *u) {
    (void)u;
    grace_barriers++;
}

Test(frames, concurrent_space_waits_for_grace) {
    vms_space_t s;
    vms_space_desc_t d;
    vms_reclaim_t rc = {g_enter, g_leave, g_retire, g_barrier, NULL};
    log_t l2;
    memset(&l2, 0, sizeof l2);
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)16 << 20;
    d.frames = on_frames;
    d.hook_user = &l2;
    d.concurrent = true;
    d.reclaim = &rc;
    if (vms_space_init(&s, &d) != VMS_OK) return; /* a build without threads refuses it */
    cr_assert(eq(int, vms_space_map(&s, 0x400000, 0x800000, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x600000, 0x900000, K4, VMS_RW, 0), VMS_OK));
    grace_retires = grace_barriers = 0;
    cr_assert(eq(int, vms_space_unmap(&s, 0x400000, K4), VMS_OK));
    cr_expect(eq(u64, l2.calls, 1));
    cr_expect(eq(int, grace_retires, 1));
    cr_expect(eq(int, grace_barriers, 1));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- data frames of the embedded arena ---- */
TestSuite(arena_data);

Test(arena_data, given_back_and_reused) {
    vms_space_t s;
    uint64_t pa, again, frames;
    int level;
    cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)8 << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, 4 * K4, K4, &pa), VMS_OK));
    memset(vms_arena_ptr(&s.arena, pa), 0x5a, 4 * K4);
    frames = s.arena.frames_in_use;
    /* Bad input changes nothing. */
    cr_expect(eq(int, vms_arena_free_data(&s.arena, pa + 1, K4), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_arena_free_data(&s.arena, pa, 0), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_arena_free_data(NULL, pa, K4), VMS_ERR_ARG));
    cr_expect(eq(int, vms_arena_free_data(&s.arena, s.root_pa, K4), VMS_ERR_ARG), "a table");
    cr_expect(eq(int, vms_arena_free_data(&s.arena, pa, 5 * K4), VMS_ERR_ARG), "past the data");
    cr_expect(eq(int, vms_arena_free_data(&s.arena, s.arena.phys_base + s.arena.size, K4),
                 VMS_ERR_ARG));
    cr_expect(eq(u64, s.arena.frames_in_use, frames));
    /* The middle two go back; a second time is refused. */
    cr_assert(eq(int, vms_arena_free_data(&s.arena, pa + K4, 2 * K4), VMS_OK));
    cr_expect(eq(u64, s.arena.frames_in_use, frames));
    cr_expect(eq(int, vms_arena_free_data(&s.arena, pa + 2 * K4, K4), VMS_ERR_ARG));
    cr_expect(eq(int, vms_arena_free_data(&s.arena, pa, 2 * K4), VMS_ERR_ARG), "all or nothing");
    /* A single data frame comes from the freed ones, zeroed. */
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, K4, K4, &again), VMS_OK));
    cr_expect(again == pa + K4 || again == pa + 2 * K4);
    cr_expect(eq(u8, *(uint8_t *)vms_arena_ptr(&s.arena, again), 0));
    cr_expect(eq(u8, *(uint8_t *)vms_arena_ptr(&s.arena, pa), 0x5a), "the rest untouched");
    /* A table may take the other one. */
    cr_assert(eq(int, vms_space_map(&s, 0x400000, pa, K4, VMS_RW, 0), VMS_OK));
    cr_expect(ne(ptr, vt_walk(&s, 0x400000, &level, NULL), NULL));
    vt_expect_wellformed(&s);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* After a save and load, data frames are known as such again. */
Test(arena_data, known_after_a_load) {
    vms_space_t s, t;
    uint64_t pa;
    static uint8_t img[(8 << 20) + 4096];
    size_t n = 0;
    cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)4 << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, 2 * K4, K4, &pa), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x400000, pa, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_save_mem(&s, img, sizeof img, &n), VMS_OK));
    cr_assert(eq(int, vms_space_load_mem(&t, img, n), VMS_OK));
    cr_expect(eq(int, vms_arena_free_data(&t.arena, t.root_pa, K4), VMS_ERR_ARG));
    cr_expect(eq(int, vms_arena_free_data(&t.arena, pa, 2 * K4), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&t), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}
