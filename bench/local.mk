# bench: benchmarks (figures, never pass/fail).  Built with `make`, run by bench/run.sh.
noinst_PROGRAMS += bench/blk-bench
bench_blk_bench_SOURCES = bench/blk_bench.c
bench_blk_bench_CPPFLAGS = $(AM_CPPFLAGS) $(DRV_INCLUDES) $(HSM_INCLUDES)
bench_blk_bench_LDADD = tests/driver/libdrv.a
EXTRA_DIST += bench/run.sh bench/guest.sh bench/uml.sh
