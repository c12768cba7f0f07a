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

# CUDA backend (docs/cuda.md): built when nvcc is found, `make NVCC=` builds
# without it. Sanitizer builds stay CPU-only: their suites link their own
# programs with the CPU libraries, and ASan's shadow memory clashes with the
# CUDA driver. cuBLASLt is linked --as-needed: loading it costs a process
# ~0.15 s, so only programs that call a GEMM load it.
NVCC ?= $(shell command -v nvcc 2>/dev/null)
NVCC := $(NVCC)
ifneq ($(findstring -fsanitize,$(CFLAGS_ALL)),)
override NVCC :=
endif
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
ifneq ($(NVCC),)
CUDA_LIBDIR := $(abspath $(dir $(NVCC))../lib64)
NVCC_FLAGS := -std=c++17 $(NVCC_ARCH) -O2 -fmad=false --Werror all-warnings \
  -Xcompiler -Wall,-Wextra,-Werror,-fPIC -Iinclude -Ilib -Ikernels
CUDA_LDLIBS := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -Wl,--push-state,--as-needed \
  -lcublasLt -lcublas -Wl,--pop-state -lcudart -lstdc++
# Objects named x.cu.o: cuda/qgemm.cu and lib/core/qgemm.c share a basename,
# and archive members go by basename.
LIB_OBJ += $(patsubst %.cu,$(BUILD)/%.cu.o,$(sort $(wildcard cuda/*.cu)))
LDLIBS += $(CUDA_LDLIBS)
$(BUILD)/lib/runtime/backend_cuda_glue.o: CFLAGS_ALL += -DQI_HAVE_CUDA -I.
CUDA_TEST_BIN := $(BUILD)/cuda-tests/test_cuda_kernels $(BUILD)/cuda-tests/bench_cuda_gemm
endif
# Switching between the two flavours rebuilds the glue and the archive.
CUDA_FLAVOR := $(BUILD)/.flavor-$(if $(NVCC),cuda,cpu)
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

.PHONY: all lib tools examples tests test bench bench-kernels bench-callgrind demo accuracy install clean deps cuda-tests
all: $(LIB) $(TOOLS) $(EXAMPLES)
lib: $(LIB)
tools: $(TOOLS)
examples: $(EXAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) -MMD -MP -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC $<")
	$(Q)$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $@

$(CUDA_FLAVOR):
	@mkdir -p $(dir $@) && rm -f $(BUILD)/.flavor-* && touch $@
$(BUILD)/lib/runtime/backend_cuda_glue.o: $(CUDA_FLAVOR)

$(LIB): $(LIB_OBJ) $(CUDA_FLAVOR)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

QINFER_SRC := tools/qinfer.c tools/npy.c tools/image.c tools/eval_imagenet.c
tools/qinfer: $(QINFER_SRC) $(wildcard tools/*.h) $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $(QINFER_SRC) -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

CALIB_SRC := $(sort $(wildcard tools/calibrate*.c)) tools/npy.c tools/image.c
tools/calibrate: $(CALIB_SRC) $(wildcard tools/*.h) $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $(CALIB_SRC) -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

examples/classify: examples/classify.c tools/image.c tools/image.h $(LIB)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) examples/classify.c tools/image.c -o $@ $(LIB) $(LDLIBS) $(IMG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -Itests/unit $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/tests/onnx_node_runner: tests/conformance/onnx_node_runner.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) $< -o $@ $(LIB) $(LDLIBS)

# tests/cuda: the host check of the CUDA kernels' arithmetic runs in every
# build; the GPU test and benchmark are built with nvcc and run by
# tests/cuda/run.sh on a machine with a GPU (they need no OpenBLAS).
$(BUILD)/tests/test_cuda_elem: tests/cuda/test_cuda_elem.c cuda/elem.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -I. -Itests/unit $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/cuda-tests/%: tests/cuda/%.c cuda/qi_cuda.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -I. -Itests/unit $< -o $@ $(LIB) $(CUDA_LDLIBS) -lpthread -lm

cuda-tests: $(CUDA_TEST_BIN)

tests: $(UNIT_BIN) $(BUILD)/tests/onnx_node_runner $(BUILD)/tests/test_cuda_elem $(CUDA_TEST_BIN)

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

# Instruction counts (valgrind callgrind) of INT8 convolutions, qinfer
# against oneDNN: immune to other load; about 10 s per layer.
bench-callgrind: all $(BUILD)/bench/bench_qconv
	@python3 tests/bench/bench_callgrind.py --bin $(BUILD)/bench/bench_qconv

# FP32 vs INT8 on the real models (docs/accuracy.md); ~6 minutes (--auto: ~13).
accuracy: all deps
	@tests/accuracy/run_accuracy.sh

demo: deps all
	@tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/qinfer.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 lib/libqinfer.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 tools/qinfer tools/calibrate $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' -e 's|@CUDA_LIBS@|$(CUDA_LDLIBS)|' qinfer.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qinfer.pc

clean:
	rm -rf build build-san build-fuzz build-tsan lib/libqinfer.a $(TOOLS) $(EXAMPLES)

-include $(LIB_OBJ:.o=.d)
