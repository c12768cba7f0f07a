# qinfer build. `make` builds lib/libqinfer.a, the tools and the examples.
# Quick start: `make demo` and `make test` (both install what they need).
CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
AR ?= ar
PREFIX ?= /usr/local
SAN ?= 0
OPT ?= -O2

BUILD := build
# V=1 shows full compiler command lines.
Q := $(if $(filter 1,$(V)),,@)
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) -g -fPIC -pthread \
  -Wall -Wextra -Werror -fno-fast-math -ffp-contract=off \
  -Iinclude -Ilib -Ikernels $(EXTRA_CFLAGS)
LDLIBS := -lopenblas -lpthread -lm
ifeq ($(SAN),1)
BUILD := build-san
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB := $(if $(filter 1,$(SAN)),$(BUILD)/libqinfer.a,lib/libqinfer.a)
LIB_SRC := $(sort $(shell find lib kernels -name '*.c'))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOLS := tools/qinfer tools/calibrate
EXAMPLES := examples/classify
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
IMG_LIBS := -ljpeg -lpng

# Each ISA-specific file is compiled with its own target flags (one file per
# ISA, never #if inside functions).
ISA_avx2 := -mavx2 -mfma -mf16c
ISA_f16c := -mavx2 -mfma -mf16c
ISA_avxvnni := -mavx2 -mfma -mf16c -mavxvnni
ISA_avx512vnni := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
isa_flags = $(strip $(foreach i,avx512vnni avxvnni avx2 f16c,$(if $(filter %-$(i).c,$(1)),$(ISA_$(i)))))

.PHONY: all lib tools examples tests test bench bench-kernels demo install clean deps
all: $(LIB) $(TOOLS) $(EXAMPLES)
lib: $(LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

QINFER_SRC := tools/qinfer.c tools/npy.c tools/image.c tools/eval_imagenet.c
tools/qinfer: $(QINFER_SRC) $(wildcard tools/*.h) $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $(QINFER_SRC) -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

CALIB_SRC := $(sort $(wildcard tools/calibrate*.c)) tools/npy.c tools/image.c
tools/calibrate: $(CALIB_SRC) $(wildcard tools/*.h) $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $(CALIB_SRC) -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

examples/classify: examples/classify.c tools/image.c tools/image.h $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) examples/classify.c tools/image.c -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -Itests/unit $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/tests/onnx_node_runner: tests/conformance/onnx_node_runner.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

tests: $(UNIT_BIN) $(BUILD)/tests/onnx_node_runner

deps:
	@tools/setup-deps.sh

# The README's test command: installs what it needs, builds, runs everything.
test: deps
	@$(MAKE) --no-print-directory all tests
	@tests/run_all.sh $(BUILD)

bench: deps all $(BENCH_BIN)
	@tests/bench/run_bench.sh $(BUILD)

bench-kernels: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do $$b; done

demo: deps all
	@tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/qinfer.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 lib/libqinfer.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 tools/qinfer tools/calibrate $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' qinfer.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qinfer.pc

clean:
	rm -rf build build-san lib/libqinfer.a $(TOOLS) $(EXAMPLES)

-include $(LIB_OBJ:.o=.d)
