/* vmspace-dump - print a saved vmspace, or a demo space, as a page-table listing.
 *
 *     vmspace-dump FILE          print the space saved in FILE (vms_space_save format)
 *     vmspace-dump               build a demo space and print it
 *     vmspace-dump --save FILE   build the demo space and save it to FILE
 *     vmspace-dump -h            usage
 *
 * The listing comes from vms_space_dump (merged runs: start, end, size, page size, rights,
 * cache policy, physical range), followed by a summary line from vms_space_stats.
 * Exit status: 0 on success, 1 on any error (the message goes to stderr). */
#include <stdio.h>
#include <string.h>

#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

static void usage(FILE *f) {
    fputs("usage: vmspace-dump [FILE]\n"
          "       vmspace-dump --save FILE\n"
          "\n"
          "  FILE         print the space saved in FILE (written by vms_space_save)\n"
          "  (no FILE)    build and print a demo space: 4K, 2M and 1G pages, user and\n"
          "               kernel rights, global, no-access and all four cache policies\n"
          "  --save FILE  build the demo space and save it to FILE\n"
          "  -h, --help   this text\n",
          f);
}

static void print_line(void *user, const char *line) {
    (void)user;
    puts(line);
}

/* "1536 KiB" style, exact: the largest unit that divides the value. */
static const char *human(uint64_t bytes, char *buf, size_t n) {
    if (bytes && !(bytes % GIB)) snprintf(buf, n, "%llu GiB", (unsigned long long)(bytes / GIB));
    else if (bytes && !(bytes % MIB))
        snprintf(buf, n, "%llu MiB", (unsigned long long)(bytes / MIB));
    else if (!(bytes % KIB)) snprintf(buf, n, "%llu KiB", (unsigned long long)(bytes / KIB));
    else snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    return buf;
}

static void print_summary(const vms_space_t *s) {
    vms_stats_t st;
    char a[32], b[32], c[32], t[32];
    vms_space_stats(s, &st);
    printf("summary: %d levels, %llu table pages (%s); mapped %s by 4K pages, %s by 2M pages, "
           "%s by 1G pages\n",
           s->levels, (unsigned long long)st.table_pages,
           human(st.table_pages * VMS_PAGE_4K, t, sizeof t), human(st.mapped_bytes[0], a, sizeof a),
           human(st.mapped_bytes[1], b, sizeof b), human(st.mapped_bytes[2], c, sizeof c));
}

/* One mapping of the demo; stops at the first error. */
typedef struct demo_map_s {
    uint64_t va, pa, len;
    vms_prop_t prop;
    uint32_t flags;
} demo_map_t;

/* A space that looks like a small kernel plus one process. */
static int build_demo(vms_space_t *s) {
    static const demo_map_t maps[] = {
        /* User program: text RX, rodata R, data RW, a no-access guard page, the stack. */
        {0x400000, 0x1000000, 8 * 4 * KIB, VMS_RX | VMS_USER, 0},
        {0x408000, 0x1008000, 4 * 4 * KIB, VMS_R | VMS_USER, 0},
        {0x40c000, 0x100c000, 16 * 4 * KIB, VMS_RW | VMS_USER | VMS_SW0, 0},
        {0x7ffffffd0000, 0x2000000, 4 * KIB, 0, 0},
        {0x7ffffffd1000, 0x2001000, 47 * 4 * KIB, VMS_RW | VMS_USER, 0},
        /* User heap on 2 MiB pages. */
        {0x10000000, 0x40000000, 3 * 2 * MIB, VMS_RW | VMS_USER, 0},
        /* A frame buffer mapped write-combining for the user. */
        {0x20000000, 0xfd000000, 4 * 2 * MIB, VMS_RW | VMS_USER | VMS_CACHE_WC, 0},
        /* Kernel direct map: 1 GiB pages, global, not executable. */
        {0xffff888000000000, 0, 4 * GIB, VMS_RW | VMS_GLOBAL, 0},
        /* Kernel text RX and rodata R on 2 MiB pages, global. */
        {0xffffffff80000000, 0x1000000, 2 * 2 * MIB, VMS_RX | VMS_GLOBAL, 0},
        {0xffffffff80400000, 0x1400000, 2 * MIB, VMS_R | VMS_GLOBAL, 0},
        /* Kernel data RW on 4 KiB pages, with a write-through buffer. */
        {0xffffffff80600000, 0x1600000, 32 * 4 * KIB, VMS_RW | VMS_GLOBAL, VMS_MAP_MAX_4K},
        {0xffffffff80620000, 0x1620000, 2 * 4 * KIB, VMS_RW | VMS_CACHE_WT, 0},
        /* Device registers: uncached, kernel only. */
        {0xffffffffff5fc000, 0xfee00000, 4 * KIB, VMS_RW | VMS_CACHE_UC | VMS_GLOBAL, 0},
        {0xffffffffff5fd000, 0xfec00000, 4 * KIB, VMS_RW | VMS_CACHE_UC, 0},
    };
    vms_space_desc_t d;
    size_t i;
    int err;
    memset(&d, 0, sizeof d);
    d.levels = 4;
    d.arena.size = 16 * MIB; /* tables only: the demo's frames are not in the arena */
    err = vms_space_init(s, &d);
    if (err) return err;
    for (i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        err = vms_space_map(s, maps[i].va, maps[i].pa, maps[i].len, maps[i].prop,
                            maps[i].flags);
        if (err) break;
    }
    /* Four pages of kernel data become read-only: a run of their own in the listing. */
    if (!err) err = vms_space_protect(s, 0xffffffff80610000, 4 * 4 * KIB, VMS_R | VMS_GLOBAL);
    if (err) vms_space_destroy(s);
    return err;
}

static int fail(const char *what, const char *arg, int err) {
    if (arg) fprintf(stderr, "vmspace-dump: %s %s: %s\n", what, arg, vms_strerror(err));
    else fprintf(stderr, "vmspace-dump: %s: %s\n", what, vms_strerror(err));
    return 1;
}

int main(int argc, char **argv) {
    vms_space_t s;
    const char *file = NULL, *save = NULL;
    int i, err;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--save")) {
            if (i + 1 >= argc || save) {
                usage(stderr);
                return 1;
            }
            save = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "vmspace-dump: unknown option %s\n", argv[i]);
            usage(stderr);
            return 1;
        } else if (!file) {
            file = argv[i];
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (file && save) {
        usage(stderr);
        return 1;
    }
    if (file) {
        err = vms_space_load(&s, file);
        if (err) return fail("cannot load", file, err);
    } else {
        err = build_demo(&s);
        if (err) return fail("cannot build the demo space", NULL, err);
    }
    if (save) {
        err = vms_space_save(&s, save);
        vms_space_destroy(&s);
        if (err) return fail("cannot save to", save, err);
        printf("saved the demo space to %s\n", save);
        return 0;
    }
    vms_space_dump(&s, print_line, NULL);
    print_summary(&s);
    vms_space_destroy(&s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "vmspace-dump: write error on standard output\n");
        return 1;
    }
    return 0;
}
