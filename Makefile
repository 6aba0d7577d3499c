# ducklake-backend. `make run` and `make test` install what is missing first (scripts/deps.sh).
CC      ?= cc
MODE    ?= release
BUILD   := build
OBJDIR  := $(BUILD)/obj-$(MODE)
DUCKDB  := third_party/duckdb
PKGS    := libmicrohttpd jansson libcurl libpq sqlite3 openssl zlib
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -DDLB_VERSION='"$(VERSION)"' $(WARN) -Isrc \
	-I$(DUCKDB)/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -pthread
LDLIBS  = -L$(DUCKDB)/lib -lduckdb \
	-Wl,-rpath,'$$ORIGIN/../third_party/duckdb/lib:$$ORIGIN/../../third_party/duckdb/lib' \
	$(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

ifeq ($(MODE),asan)
  CFLAGS_MODE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
  LDMODE := -fsanitize=address,undefined
  BIN := $(BUILD)/asan/ducklake-backend
else ifeq ($(MODE),coverage)
  CFLAGS_MODE := -O0 -g --coverage
  LDMODE := --coverage
  BIN := $(BUILD)/coverage/ducklake-backend
else
  CFLAGS_MODE := -O2 -g
  BIN := $(BUILD)/ducklake-backend
endif
CFLAGS ?=
CFLAGS += $(CFLAGS_COMMON) $(CFLAGS_MODE)

SRCS     := $(shell find src -name '*.c' ! -name main.c | sort)
OBJS     := $(SRCS:%.c=$(OBJDIR)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests-$(MODE)/%)

.PHONY: all deps deps-test run test test-unit test-e2e test-e2e-pg test-asan lint format \
	coverage bench fuzz fuzz-short clean

all: $(BIN)

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libdlb-$(MODE).a: $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(OBJDIR)/src/main.o $(BUILD)/libdlb-$(MODE).a
	@mkdir -p $(dir $@)
	$(CC) $(LDMODE) -o $@ $^ $(LDLIBS)

$(BUILD)/tests-$(MODE)/%: tests/unit/%.c $(BUILD)/libdlb-$(MODE).a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libdlb-$(MODE).a $(LDMODE) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d) $(OBJDIR)/src/main.d

run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN)

# Everything: set-up, unit tests, end-to-end tests on SQLite and on PostgreSQL, lint.
test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-e2e
	@$(MAKE) --no-print-directory test-e2e-pg
	@$(MAKE) --no-print-directory lint
	@DLB_BIN=$(BIN) scripts/check-docs.sh
	@$(MAKE) --no-print-directory fuzz-short FUZZ_TIME=15

test-unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

test-e2e: $(BIN)
	@DLB_BIN=$(abspath $(BIN)) scripts/run-e2e.sh sqlite

test-e2e-pg: $(BIN)
	@DLB_BIN=$(abspath $(BIN)) scripts/run-e2e.sh postgres

# Unit tests and the whole e2e suite with AddressSanitizer and UBSan.
test-asan: deps-test
	@$(MAKE) --no-print-directory MODE=asan test-unit
	@$(MAKE) --no-print-directory MODE=asan all
	@DLB_BIN=$(abspath $(BUILD)/asan/ducklake-backend) DLB_ASAN=1 scripts/run-e2e.sh sqlite

lint:
	@scripts/lint.sh

format:
	clang-format -i $$(find src tests/unit -name '*.[ch]')

coverage: deps-test
	@rm -rf $(BUILD)/obj-coverage
	@$(MAKE) --no-print-directory MODE=coverage test-unit
	@$(MAKE) --no-print-directory MODE=coverage all
	@DLB_BIN=$(abspath $(BUILD)/coverage/ducklake-backend) scripts/run-e2e.sh sqlite
	gcovr -r . --object-directory $(BUILD)/obj-coverage --filter src/ --print-summary \
		--txt $(BUILD)/coverage.txt
	@tail -n 5 $(BUILD)/coverage.txt

bench: all
	@scripts/deps.sh bench
	bench/http/run.sh

# libFuzzer targets (clang): the reader alone, no DuckDB. fuzz-short runs each for FUZZ_TIME
# seconds from its seed corpus (tests/fuzz/corpus/<name>); new inputs go to build/fuzz/corpus-*.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 30
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(BUILD)/fuzz/fuzz_arrow_reader $(BUILD)/fuzz/fuzz_router \
	$(BUILD)/fuzz/fuzz_json_rows $(BUILD)/fuzz/fuzz_multipart $(BUILD)/fuzz/fuzz_types \
	$(BUILD)/fuzz/fuzz_lineage $(BUILD)/fuzz/fuzz_ndjson_scan
ARROW_READ_SRC := src/engine/arrow/ipc_read.c src/engine/arrow/fb_read.c
DUCK_INC := -I$(DUCKDB)/include

# The router target links the real route table; the handlers it names are never called, so
# their symbols may stay unresolved.
$(BUILD)/fuzz/fuzz_router: tests/fuzz/fuzz_router.c src/http/router.c src/api/routes.c src/util/ids.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DUCK_INC) -o $@ $^ -lcrypto -Wl,--unresolved-symbols=ignore-all

$(BUILD)/fuzz/fuzz_json_rows: tests/fuzz/fuzz_json_rows.c src/util/json_rows.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

$(BUILD)/fuzz/fuzz_multipart: tests/fuzz/fuzz_multipart.c src/http/multipart.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

$(BUILD)/fuzz/fuzz_ndjson_scan: tests/fuzz/fuzz_ndjson_scan.c src/engine/ndjson_scan.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ -pthread

$(BUILD)/fuzz/fuzz_types: tests/fuzz/fuzz_types.c src/lake/types.c src/util/buf.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DUCK_INC) -o $@ $^

$(BUILD)/fuzz/fuzz_lineage: tests/fuzz/fuzz_lineage.c src/lineage/validate.c src/util/ids.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DUCK_INC) -o $@ $^ -ljansson -lcrypto

$(BUILD)/fuzz/fuzz_arrow_reader: tests/fuzz/fuzz_arrow_reader.c $(ARROW_READ_SRC) \
		$(wildcard src/engine/arrow/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_arrow_reader.c $(ARROW_READ_SRC)

fuzz: $(FUZZ_TARGETS)

fuzz-short: fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$$(basename $$t | sed 's/^fuzz_//; s/_reader$$//'); \
		mkdir -p tests/fuzz/corpus/$$name; \
		mkdir -p $(BUILD)/fuzz/corpus-$$name; \
		echo "fuzz: $$t for $(FUZZ_TIME) s"; \
		if ! $$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
			$(BUILD)/fuzz/corpus-$$name tests/fuzz/corpus/$$name \
			> $(BUILD)/fuzz/$$name.log 2>&1; then \
			tail -n 60 $(BUILD)/fuzz/$$name.log; exit 1; \
		fi; \
		grep -E 'stat::number_of_executed_units' $(BUILD)/fuzz/$$name.log; \
	done

clean:
	rm -rf $(BUILD)
