#!/usr/bin/env bash
# Bounded libFuzzer runs of every fuzz target in tests/fuzz/ (ONNX reader,
# .qnf reader, .npy reader, image input), each built with clang
# -fsanitize=fuzzer,address,undefined (leak checking on, any UB fatal) and
# started from its committed seed corpus tests/fuzz/corpus/<target>/, which
# also holds the inputs that once crashed it (crash-*): those are replayed
# first, so every crash found stays a regression test.
#
#   tests/suites/fuzz.sh                  # CI: FUZZ_SECONDS (30) per target
#   FUZZ_SECONDS=3600 tests/suites/fuzz.sh  # a longer run (docs/reliability.md)
#   FUZZ_TARGETS="npy image" tests/suites/fuzz.sh
#
# New inputs go to build-fuzz/corpus/<target>/ (kept between local runs,
# never into the committed seeds); a crash is saved as
# build-fuzz/artifacts/<target>-crash-<sha1> and fails the suite.
set -u
cd "$(dirname "$0")/../.."
OUT=build-fuzz
SECS=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-$(($(nproc) < 2 ? 1 : 2))}
TARGETS=${FUZZ_TARGETS:-onnx qnf npy image}
CLANG=${FUZZ_CC:-clang}
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=all -fno-omit-frame-pointer -Iinclude -Ilib -Ikernels)
mkdir -p "$OUT/logs" "$OUT/artifacts"

summary() {
  echo "fuzz: $1 passed, $2 failed"
  [ "$2" -eq 0 ]
  exit
}

# libFuzzer ships with clang (Debian: package libclang-rt-14-dev, which
# tools/setup-deps.sh installs); without it nothing here can run.
probe=$OUT/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' >"$probe"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined "$probe" -o "$OUT/probe" \
  >"$OUT/logs/probe.log" 2>&1; then
  echo "FAIL cannot build a libFuzzer target with $CLANG (install clang and"
  echo "     libclang-rt-14-dev; see $OUT/logs/probe.log)"
  summary 0 1
fi

# Each target's sources: the harness and the parts of qinfer it reaches.
sources() {
  case $1 in
    onnx) echo tests/fuzz/fuzz_onnx.c lib/onnx/*.c lib/graph/graph.c lib/core/error.c ;;
    qnf) echo -mavx2 -mfma -mf16c -Itests/unit tests/fuzz/fuzz_qnf.c lib/qnf/*.c \
      lib/graph/graph.c lib/core/error.c lib/core/cpu_features.c -lpthread ;;
    npy) echo -Itools tests/fuzz/fuzz_npy.c tools/npy.c ;;
    image) echo -Itools tests/fuzz/fuzz_image.c -ljpeg -lpng -lm ;;
  esac
}

build() {
  rm -f "$OUT/fuzz_$1"
  # shellcheck disable=SC2046
  "$CLANG" "${CFLAGS[@]}" $(sources "$1") -o "$OUT/fuzz_$1" \
    >"$OUT/logs/build_$1.log" 2>&1
}

# The decoders' own warnings (libjpeg, libpng) are noise on stderr.
NOISE='^(libpng (warning|error): |Corrupt JPEG data|Premature end of JPEG|Warning: unknown JFIF|Invalid SOS|Bogus|Unsupported marker)'

run() {
  local t=$1 log=$OUT/logs/fuzz_$1.log
  mkdir -p "$OUT/corpus/$t"
  "$OUT/fuzz_$t" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" \
    "$OUT/corpus/$t" "tests/fuzz/corpus/$t" 2>&1 | grep -avE "$NOISE" >"$log"
  echo "${PIPESTATUS[0]}" >"$OUT/logs/fuzz_$t.rc"
}

pass=0
fail=0
t0=$SECONDS
ready=()
for t in $TARGETS; do
  build "$t" &
  [ "$(jobs -rp | wc -l)" -ge "$JOBS" ] && wait -n
done
wait
for t in $TARGETS; do
  if [ -x "$OUT/fuzz_$t" ]; then
    ready+=("$t")
  else
    fail=$((fail + 1))
    echo "FAIL fuzz_$t: build failed:"
    grep -E 'error' "$OUT/logs/build_$t.log" | head -n 10 | sed 's/^/    /'
  fi
done
echo "built ${#ready[@]} target(s) in $((SECONDS - t0)) s; fuzzing ${SECS} s each, $JOBS at a time"

for t in "${ready[@]}"; do
  run "$t" &
  [ "$(jobs -rp | wc -l)" -ge "$JOBS" ] && wait -n
done
wait
for t in "${ready[@]}"; do
  log=$OUT/logs/fuzz_$t.log
  rc=$(cat "$OUT/logs/fuzz_$t.rc" 2>/dev/null || echo 1)
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1))
    echo "ok   fuzz_$t: ${runs:-?} runs in ${SECS} s (${cov:-no stats}), seeds $(ls "tests/fuzz/corpus/$t" | wc -l)"
  else
    fail=$((fail + 1))
    echo "FAIL fuzz_$t (exit $rc), log $log:"
    grep -aE 'ERROR|runtime error|SUMMARY|Test unit written|crash|deadly signal' "$log" | head -n 12 | sed 's/^/    /'
    echo "    reproduce: $OUT/fuzz_$t <artifact>; keep the input as tests/fuzz/corpus/$t/crash-<what>"
  fi
done
summary "$pass" "$fail"
