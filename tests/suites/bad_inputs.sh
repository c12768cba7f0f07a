#!/usr/bin/env bash
# The hostile-inputs catalog (tests/bad_inputs/): generates the bad files,
# then checks every entry of tests/bad_inputs/manifest.txt (expected status
# and message; no crash, leak, sanitizer report or allocation over 256 MiB)
# with the runner built against the ASan+UBSan library of build-san/ (the
# one tests/suites/sanitizers.sh uses, so it is built once for both).
set -u
cd "$(dirname "$0")/../.."
SAN_BUILD=build-san
OUT=$SAN_BUILD/bad_inputs
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$SAN_BUILD"
CC=${CC:-cc}
CFLAGS=(-std=c11 -D_GNU_SOURCE -O1 -g -pthread -Wall -Wextra -Werror -fno-fast-math
  -ffp-contract=off -fsanitize=address,undefined -fno-sanitize-recover=all
  -fno-omit-frame-pointer -Iinclude -Ilib -Ikernels -Itests/unit -Itools)
LIBS=(-lopenblas -lpthread -lm)

fail_build() {
  tail -n 20 "$1"
  echo "bad_inputs: 0 passed, 1 failed"
  exit 1
}

if ! make --no-print-directory SAN=1 -j"$(nproc)" "$SAN_BUILD/libqinfer.a" \
  >"$SAN_BUILD/bad_inputs_build.log" 2>&1; then
  fail_build "$SAN_BUILD/bad_inputs_build.log"
fi
if ! "$CC" "${CFLAGS[@]}" tests/bad_inputs/make_bad_models.c tests/bad_inputs/make_bad_data.c \
  -o "$SAN_BUILD/make_bad_inputs" "$SAN_BUILD/libqinfer.a" "${LIBS[@]}" -ljpeg -lz \
  >>"$SAN_BUILD/bad_inputs_build.log" 2>&1; then
  fail_build "$SAN_BUILD/bad_inputs_build.log"
fi
# Every allocation of the library and the tools goes through the runner's
# wrappers, which refuse requests over its limit.
if ! "$CC" "${CFLAGS[@]}" tests/bad_inputs/run_bad_inputs.c tests/bad_inputs/bad_api_cases.c \
  tests/bad_inputs/bad_calib_cases.c tools/npy.c tools/image.c \
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc \
  -o "$SAN_BUILD/run_bad_inputs" "$SAN_BUILD/libqinfer.a" "${LIBS[@]}" -ljpeg -lpng \
  >>"$SAN_BUILD/bad_inputs_build.log" 2>&1; then
  fail_build "$SAN_BUILD/bad_inputs_build.log"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
if ! "$SAN_BUILD/make_bad_inputs" "$OUT" >"$SAN_BUILD/bad_inputs_make.log" 2>&1; then
  fail_build "$SAN_BUILD/bad_inputs_make.log"
fi
log=$SAN_BUILD/bad_inputs_run.log
"$SAN_BUILD/run_bad_inputs" tests/bad_inputs/manifest.txt "$OUT" >"$log" 2>"$log.stderr"
rc=$?
# Failures with the first sanitizer line of their case (the runner's stderr
# marks each case with "=== KIND TARGET").
grep -vE '^ok   ' "$log" | while IFS= read -r line; do
  echo "$line"
  case $line in
    FAIL*"runner's stderr"*)
      set -- $line
      awk -v want="=== $2 $3" '/^=== /{cur=$0} cur==want && /runtime error|ERROR: |LeakSanitizer/{print "     " $0; exit}' "$log.stderr"
      ;;
  esac
done
summary=$(grep -E '^bad_inputs: [0-9]+ passed, [0-9]+ failed' "$log")
if [ -z "$summary" ]; then
  # The runner died on a case: its last line names the case before it.
  echo "FAIL the runner stopped (exit $rc) after: $(tail -n 1 "$log")"
  grep -E 'ERROR|runtime error|SUMMARY' "$log.stderr" | head -n 10 | sed 's/^/    /'
  echo "bad_inputs: $(grep -c '^ok   ' "$log") passed, 1 failed"
  exit 1
fi
[ "$rc" -eq 0 ]
