#!/bin/sh
# Run one libFuzzer target as a test: every input in tests/fuzz/corpus/NAME
# (seeds, and the inputs of bugs found before) first, then FUZZ_SECONDS
# (default 25) of fuzzing with the options listed in NAME.fuzz.  New inputs
# go to a private copy of the corpus; a crash leaves its input in
# FUZZ_ARTIFACTS (default: the build's tests/fuzz/artifacts) and fails the
# test.  Prints libFuzzer's final executions and coverage.  With
# FUZZ_KEEP_CORPUS=DIR the corpus a run ends with is kept in DIR/NAME (for
# tests/fuzz/coverage.sh).
#   run-fuzz.sh SRCDIR/tests/fuzz/NAME.fuzz     (with VDM_BUILDDIR set, as make check does)
set -u
def=$1
name=$(basename "$def" .fuzz)
src=$(cd "$(dirname "$def")" && pwd)
build=${VDM_BUILDDIR:-.}
prog=$build/tests/fuzz/fuzz_$name
seeds=$src/corpus/$name
art=${FUZZ_ARTIFACTS:-$build/tests/fuzz/artifacts}
[ -x "$prog" ] || { echo "no fuzz target $prog (configure --enable-fuzzing)"; exit 99; }
[ -d "$seeds" ] || { echo "no seed corpus at $seeds"; exit 99; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vdm-fuzz-$name-XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
mkdir -p "$art" "$work/corpus"
cp "$seeds"/* "$work/corpus/"
opts=$(grep -v '^#' "$def")
# shellcheck disable=SC2086 # one option per word
"$prog" $opts -max_total_time="${FUZZ_SECONDS:-25}" -print_final_stats=1 -timeout=10 \
	-rss_limit_mb=2048 -artifact_prefix="$art/$name-" "$work/corpus" >"$work/log" 2>&1
status=$?
# Progress lines are noise in a test log; keep the start, findings and stats.
grep -v -e '^#[0-9]*	\(NEW\|REDUCE\|pulse\)' -e '^"' -e '^######' "$work/log"
echo "corpus after the run: $(ls "$work/corpus" | wc -l) inputs"
if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
	mkdir -p "$FUZZ_KEEP_CORPUS/$name"
	cp "$work/corpus"/* "$FUZZ_KEEP_CORPUS/$name/"
fi
exit "$status"
