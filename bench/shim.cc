// shim.cc - registers the C benchmark cases of bench_list.h with Google Benchmark. Nothing is
// timed here but the call of a case's step; all set-up lives in C (see bench_common.h).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench_list.h"

namespace {

struct Case {
    const char *name;
    void *(*setup)(int, int64_t, vms_bench_info_t *);
    uint64_t (*step)(void *);
    void (*reset)(void *);
    void (*report)(void *, vms_bench_info_t *);
    void (*teardown)(void *);
    int variant;
};

// Google Benchmark runs a case several times (iteration-count trials, repetitions, and with
// --benchmark_enable_random_interleaving those runs are mixed with other cases'), so each
// (case, argument) state is built once and kept until the program ends.
struct Live {
    void *state = nullptr;
    vms_bench_info_t info{};
    const Case *c = nullptr;
};
std::map<std::pair<const Case *, int64_t>, Live> live;

void drop_all() {
    for (auto &kv : live)
        if (kv.second.state) kv.second.c->teardown(kv.second.state);
    live.clear();
}

void *get_state(const Case &c, int64_t arg, vms_bench_info_t *info) {
    auto key = std::make_pair(&c, arg);
    auto it = live.find(key);
    if (it == live.end()) {
        Live l;
        l.c = &c;
        l.state = c.setup(c.variant, arg, &l.info);
        it = live.emplace(key, l).first;
    }
    *info = it->second.info;
    return it->second.state;
}

using Clock = std::chrono::steady_clock;

void run(benchmark::State &st, const Case &c, bool has_arg) {
    vms_bench_info_t info{};
    void *s = get_state(c, has_arg ? st.range(0) : -1, &info);
    if (info.skip || !s) {
        st.SkipWithError(info.skip ? info.skip : "setup failed");
        return;
    }
    double secs = 0;
    if (info.manual) {
        // Time each step alone; reset (untimed) restores the starting state.
        for (auto _ : st) {
            auto t0 = Clock::now();
            uint64_t r = c.step(s);
            auto t1 = Clock::now();
            benchmark::DoNotOptimize(r);
            double d = std::chrono::duration<double>(t1 - t0).count();
            st.SetIterationTime(d);
            secs += d;
            c.reset(s);
        }
    } else {
        auto t0 = Clock::now();
        for (auto _ : st) {
            uint64_t r = c.step(s);
            benchmark::DoNotOptimize(r);
        }
        secs = std::chrono::duration<double>(Clock::now() - t0).count();
        // Every case is registered with manual time; here it is the whole loop's wall time
        // (the timer only accumulates, so one call after the loop is exact).
        st.SetIterationTime(secs);
    }
    double items = static_cast<double>(info.items) * static_cast<double>(st.iterations());
    if (info.manual) {
        // SetItemsProcessed would divide by CPU time, which includes the untimed resets.
        st.counters["items_per_second"] = benchmark::Counter(secs > 0 ? items / secs : 0);
    } else {
        st.SetItemsProcessed(static_cast<int64_t>(items));
    }
    st.counters["ns_per_item"] = benchmark::Counter(items > 0 ? secs * 1e9 / items : 0);
    st.counters["items_per_iter"] = benchmark::Counter(static_cast<double>(info.items));
    vms_bench_info_t extra{};
    c.report(s, &extra);
    for (int i = 0; i < extra.ncounters; i++)
        st.counters[extra.counter_name[i]] = benchmark::Counter(extra.counter_value[i]);
    if (extra.skip) {
        std::fprintf(stderr, "vmspace bench: %s: %s\n", c.name, extra.skip);
        st.SkipWithError(extra.skip);
    }
}

#define VMS_BENCH_UNPAREN(...) __VA_ARGS__
#define VMS_BENCH_CASE(name, family, variant, args)                                          \
    {{name, vms_bench_##family##_setup, vms_bench_##family##_step,                            \
      vms_bench_##family##_reset, vms_bench_##family##_report, vms_bench_##family##_teardown, \
      variant},                                                                               \
     {VMS_BENCH_UNPAREN args}},

struct Entry {
    Case c;
    std::vector<int64_t> args;
};
const Entry entries[] = {VMS_BENCH_LIST(VMS_BENCH_CASE)};

}  // namespace

int main(int argc, char **argv) {
    if (vms_bench_debug_build()) {
        std::fprintf(stderr,
                     "\n*****************************************************************\n"
                     "*** WARNING: built with VMSPACE_DEBUG: full invariant checks run  ***\n"
                     "*** after every operation. These numbers mean NOTHING.           ***\n"
                     "*****************************************************************\n\n");
    }
    benchmark::AddCustomContext("vmspace_build", vms_bench_build_flags());
    benchmark::AddCustomContext("vmspace_debug", vms_bench_debug_build() ? "ON" : "off");
    benchmark::AddCustomContext("vmspace_have_swtlb", VMS_BENCH_HAVE_SWTLB ? "yes" : "no");
    benchmark::AddCustomContext("vmspace_have_owner", VMS_BENCH_HAVE_OWNER ? "yes" : "no");
    for (const Entry &e : entries) {
        const Case *c = &e.c;
        bool has_arg = !(e.args.size() == 1 && e.args[0] < 0);
        auto *b = benchmark::RegisterBenchmark(
            c->name, [c, has_arg](benchmark::State &st) { run(st, *c, has_arg); });
        if (has_arg)
            for (int64_t a : e.args) b->Arg(a);
        // Whether steps are timed one by one is decided by setup, so every case uses manual
        // time (see run()).
        b->UseManualTime();
        // The machine may be shared: noise only adds time, so the best repetition is the
        // most faithful figure (the report prefers it to the median).
        b->ComputeStatistics("min", [](const std::vector<double> &v) -> double {
            return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
        });
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    drop_all();
    benchmark::Shutdown();
    return 0;
}
