# transformerd build. `make run` and `make test` are the two entry points a new
# user needs; both first make sure the Debian packages are there (deploy/install-deps.sh),
# then re-enter make so pkg-config sees them.

BUILD     ?= build
CC        = gcc
PREFIX    ?= /usr/local
PKGS      := openblas libmicrohttpd jansson libuv
LISTEN    ?= 127.0.0.1:8080
PYTHON    ?= /usr/bin/python3

# Deliberately not -march=native: the binary must run on any x86-64; the int8 kernels
# pick AVX-512 VNNI / AVX2 / portable C at run time (core/cpu.c).
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. -pthread -fno-omit-frame-pointer \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
TEST_LIBS  = $(shell pkg-config --libs check 2>/dev/null)

CORE_SRC   := $(sort $(wildcard core/*.c))
MODELS_SRC := $(sort $(wildcard models/*.c))
SERVER_SRC := $(sort $(filter-out server/main.c,$(wildcard server/*.c)))
TEST_SRC   := $(sort $(wildcard tests/unit/test_*.c))
TOOLS_SRC  := $(sort $(wildcard tools/*.c))

OBJ = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIB_OBJ    := $(call OBJ,$(CORE_SRC) $(MODELS_SRC))
SERVER_OBJ := $(call OBJ,$(SERVER_SRC))
BIN        := $(BUILD)/transformerd
UNIT_BIN   := $(BUILD)/run_unit
TOOLS_BIN  := $(patsubst tools/%.c,$(BUILD)/tools/%,$(TOOLS_SRC))

# Per-file ISA flags: only these files may use wider instructions.
# Row kernels: -O3 so gcc vectorizes the plain loops (baseline ISA only); -fno-trapping-math
# lets it if-convert the clamps in fm_expf (core/fastmath.h), which IEEE results do not see.
$(BUILD)/core/ops.o $(BUILD)/core/attention.o: ISA_FLAGS := -O3 -fno-trapping-math
$(BUILD)/core/gemm_avx2.o $(BUILD)/core/attn_rows_avx2.o $(BUILD)/core/act_avx2.o \
  $(BUILD)/core/attn_block_avx2.o: ISA_FLAGS := -mavx2 -mfma -mf16c
AVX512_OBJ := $(addprefix $(BUILD)/core/,gemm_vnni.o attn_rows_avx512.o act_avx512.o reduce_avx512.o \
  act_erf_avx512.o attn_block_avx512.o)
$(AVX512_OBJ): ISA_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

.PHONY: all deps deps-test run test test-run unit e2e bench bench-run install clean check-layers models fixtures reference quality \
        asan asan-test

all: $(BIN) $(TOOLS_BIN)

deps:
	@./deploy/install-deps.sh

# The tests also need a headless browser, promtool and systemd-analyze (install-deps.sh).
deps-test:
	@./deploy/install-deps.sh --test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(ALL_CFLAGS) $(ISA_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtf.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libtfserver.a: $(SERVER_OBJ) $(BUILD)/libtf.a
	@rm -f $@
	ar rcs $@ $(SERVER_OBJ)

$(BIN): $(BUILD)/server/main.o $(BUILD)/libtfserver.a $(BUILD)/libtf.a
	@echo "  LD  $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(BUILD)/libtf.a
	@echo "  LD  $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# The unit-test suite table is generated from the file names, so adding
# tests/unit/test_foo.c (exporting foo_suite()) is all it takes.
$(BUILD)/suites.inc: $(TEST_SRC) Makefile
	@mkdir -p $(BUILD)
	@for f in $(TEST_SRC); do n=$${f#tests/unit/test_}; echo "SUITE($${n%.c})"; done > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/tests/unit/run_unit.o: $(BUILD)/suites.inc
$(BUILD)/tests/unit/run_unit.o: ALL_CFLAGS += -I$(BUILD)

$(UNIT_BIN): $(BUILD)/tests/unit/run_unit.o $(call OBJ,$(TEST_SRC)) $(BUILD)/libtfserver.a $(BUILD)/libtf.a
	@echo "  LD  $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# server/ui/*.html are served from the binary: each becomes a C byte array (od/awk, as
# xxd is not always installed) that the route file includes.
$(BUILD)/gen/ui_attention_html.inc: server/ui/attention.html Makefile
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@{ echo "static const unsigned char ui_attention_html[] = {"; \
	  od -An -v -tu1 $< | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $$i; print "" }'; \
	  echo "0};"; } > $@.tmp && mv $@.tmp $@

$(BUILD)/server/routes_ui.o: $(BUILD)/gen/ui_attention_html.inc
$(BUILD)/server/routes_ui.o: ALL_CFLAGS += -I$(BUILD)

check-layers:
	@./tools/check-layers.sh

# ---- the two commands README names ------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	$(BIN) serve --listen $(LISTEN)

test: deps-test
	@$(MAKE) --no-print-directory test-run

test-run: all $(UNIT_BIN) check-layers
	$(UNIT_BIN)
	tests/cli/test_cli.sh $(BIN)
	tests/cli/test_classify.sh $(BIN)
	@if [ -x tests/e2e/run.sh ]; then tests/e2e/run.sh $(BIN); fi

unit: $(UNIT_BIN)
	$(UNIT_BIN) $(SUITE)

# AddressSanitizer + UndefinedBehaviorSanitizer build in its own tree (build-asan/ by
# default), so the normal build is untouched; any UB report aborts, leaks fail at exit.
# `make asan-test` runs the unit suites, then the e2e classes that feed the daemon hostile
# input (tests/e2e/hostile_tests.py and the older error tests) against that build; each
# daemon must exit 0 with no sanitizer report. Not part of `make test` (several minutes).
ASAN_BUILD  ?= build-asan
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined
# Check's per-test timeouts x10: sanitized code runs several times slower.
ASAN_ENV    := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_TIMEOUT_MULTIPLIER=10
ASAN_E2E    ?= Hostile Errors Fuzz Cancellation

asan:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CFLAGS="$(ASAN_CFLAGS)" all $(ASAN_BUILD)/run_unit

asan-test: asan
	$(ASAN_ENV) $(ASAN_BUILD)/run_unit $(SUITE)
	@[ -f tests/fixtures/e2e-gpt2/model.safetensors ] || python3 tests/e2e/make_e2e_model.py
	$(ASAN_ENV) timeout 900 python3 tests/e2e/test_serve.py $(ASAN_BUILD)/transformerd $(ASAN_E2E)

bench: deps
	@$(MAKE) --no-print-directory bench-run

bench-run: all
	./tests/bench/run.sh $(BUILD)

install: all
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/transformerd
	@if [ -d models/bundled ]; then mkdir -p $(DESTDIR)$(PREFIX)/share/transformerd && \
	  cp -r models/bundled $(DESTDIR)$(PREFIX)/share/transformerd/models; fi
	install -D -m 0644 systemd/transformerd.service $(DESTDIR)/etc/systemd/system/transformerd.service

# Regenerates the committed golden outputs (needs /usr/bin/python3 with torch).
reference:
	$(PYTHON) tests/reference/make_reference.py
	$(PYTHON) tests/reference/make_bert_reference.py

# Regenerates the committed tiny GPT-2 checkpoints under tests/fixtures/ (numpy only).
fixtures:
	$(PYTHON) tests/fixtures/make_fixtures.py
	$(PYTHON) tests/fixtures/make_bert_fixtures.py

# Trains the bundled models from ../shared/data (CPU, about 1.5 hours on 2 cores; not part
# of `make test`). Needs /usr/bin/python3 with python3-torch and python3-sentencepiece.
models:
	$(PYTHON) models/train/train_gpt2.py
	$(PYTHON) models/train/train_distilbert.py
	$(PYTHON) models/train/train_t5.py
	$(PYTHON) models/train/train_t5.py --init models/bundled/t5-multi30k-scitldr --steps 6300 --lr 5e-4 \
	    --seed 1235 --save-every 1000 --oracle-summaries

# Quality of the bundled models through transformerd (int8 as served, fp32) and PyTorch;
# reports land in build/quality/. Re-run after any change to kernels or models.
quality: all
	$(PYTHON) models/train/eval_gpt2.py
	@if [ -d models/bundled/distilbert-sst2 ]; then $(PYTHON) models/train/eval_distilbert.py; fi
	@if [ -d models/bundled/t5-multi30k-scitldr ]; then $(PYTHON) models/train/eval_t5.py; fi
	$(PYTHON) models/train/eval_attention_flags.py

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
