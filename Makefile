# ngx_microshop -- build against Debian's nginx-dev, run, test, benchmark.
#
#   make run     install what is missing, build, start the demo gateway
#   make test    unit tests (cmocka) + integration tests (pytest, real nginx),
#                then the integration tests again on the "deferred" test
#                store, which answers every store operation later
#                (docs/architecture.md)
#   make test-deferred
#                only that second run
#   make bench   wrk ratios: module vs bare nginx, in the same run
#   make fuzz-replay
#                the fuzz targets (t/fuzz) once over their committed corpus,
#                built with gcc and ASan+UBSan (part of make test)
#   make fuzz    libFuzzer (clang) on every target, FUZZ_SECONDS each (60);
#                make fuzz-merge adds the new inputs that reach new code to
#                the committed corpus
#   make asan    the module built with ASan+UBSan into build-asan/, the
#                integration tests run on it (docs/operations.md)
#   make deb     build/libnginx-mod-http-microshop_<version>_<arch>.deb, as
#                Debian's own module packages, checked by lintian
#                (docs/packaging.md)
#   make test-package
#                install that package into a clean Debian 12 root
#                (debootstrap, cached), run it, remove it (t/package/run)
#
# The module is built out of tree: /usr/share/nginx/src (from nginx-dev) is
# copied into build/nginx, configured with Debian's own flags plus
# --add-dynamic-module=., and only the modules are compiled.

SHELL        := /bin/bash
TOP          := $(CURDIR)
BUILD        := $(TOP)/build
NGX_SRC      := /usr/share/nginx/src
NGX_BUILD    := $(BUILD)/nginx
MODULE_SO    := $(BUILD)/ngx_http_microshop_module.so
PYTHON       := /usr/bin/python3
SOURCES      := $(wildcard ngx_microshop_module/*.c ngx_microshop_module/*.h) config
# extra compiler flags, e.g. make EXTRA_CFLAGS="-fsanitize=address"
EXTRA_CFLAGS ?=

.PHONY: all deps build unit test itest test-deferred run stop bench clean \
        token-tool fuzz-replay fuzz fuzz-merge build-asan asan deb \
        test-package

all: build

deps:
	@scripts/install-deps

build: deps $(MODULE_SO)

# configure again when config or the list of source files changes
SRCLIST      := $(sort $(wildcard ngx_microshop_module/*.c ngx_microshop_module/*.h))
$(shell mkdir -p $(BUILD); echo "$(SRCLIST) $(EXTRA_CFLAGS)" | cmp -s - $(BUILD)/srcs.list \
    || echo "$(SRCLIST) $(EXTRA_CFLAGS)" > $(BUILD)/srcs.list)

$(NGX_BUILD)/objs/Makefile: config $(BUILD)/srcs.list
	@rm -rf $(NGX_BUILD) && mkdir -p $(BUILD)
	cp -a $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="-g -O2 -fPIC -fstack-protector-strong $(EXTRA_CFLAGS)" \
	        --with-ld-opt="-Wl,-z,relro -Wl,-z,now -fPIC $(EXTRA_CFLAGS)" \
	        --add-dynamic-module=$(TOP) > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new file, not an overwrite: a running nginx keeps its mapping
	cp $(NGX_BUILD)/objs/ngx_http_microshop_module.so $(MODULE_SO).tmp
	mv -f $(MODULE_SO).tmp $(MODULE_SO)

token-tool: deps
	$(MAKE) -C tools

unit: deps
	$(MAKE) -C t/unit run

itest: build token-tool
	$(PYTHON) -m pytest -q t

test: build token-tool unit fuzz-replay
	$(PYTHON) -m pytest -q t
	NGX_MICROSHOP_TEST_STORE=deferred $(PYTHON) -m pytest -q t

test-deferred: build token-tool
	NGX_MICROSHOP_TEST_STORE=deferred $(PYTHON) -m pytest -q t

fuzz-replay: deps
	$(MAKE) -C t/fuzz replay

fuzz: deps
	$(MAKE) -C t/fuzz fuzz

fuzz-merge: deps
	$(MAKE) -C t/fuzz merge

# the module with ASan and UBSan, in build-asan/, for Debian's nginx with
# the ASan runtime preloaded (scripts/asan-suite): every pool allocation of
# the module exactly its size (t/asan/ngx_microshop_asan.h); alignment is
# not checked (nginx reads unaligned words on x86 on purpose)
ASAN_BUILD   := $(TOP)/build-asan
ASAN_CFLAGS  := -fsanitize=address,undefined -fno-sanitize=alignment \
                -fno-omit-frame-pointer \
                -include $(TOP)/t/asan/ngx_microshop_asan.h

build-asan: deps
	$(MAKE) BUILD=$(ASAN_BUILD) EXTRA_CFLAGS="$(ASAN_CFLAGS)" \
	    $(ASAN_BUILD)/ngx_http_microshop_module.so
	gcc -O1 -fPIC -shared -o $(ASAN_BUILD)/microshop-asan-preload.so \
	    t/asan/preload.c -ldl

asan: build-asan token-tool
	@scripts/asan-suite

# the package (docs/packaging.md): the module and the token tool built
# again, into build/deb-module/ and build/deb-tools/, with the flags Debian
# builds its nginx and modules with (dpkg-buildflags, all hardening on)
DEB_FLAGS    := DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
DEB_MODULE   := $(BUILD)/deb-module
DEB_TOOL     := $(BUILD)/deb-tools/microshop-token

deb: deps
	@scripts/install-deps deb
	$(MAKE) BUILD=$(DEB_MODULE) \
	    EXTRA_CFLAGS="$$($(DEB_FLAGS) CPPFLAGS) $$($(DEB_FLAGS) CFLAGS)" \
	    $(DEB_MODULE)/ngx_http_microshop_module.so
	@# always again: a copy made with other flags would be taken as fresh
	@mkdir -p $(dir $(DEB_TOOL)) && rm -f $(DEB_TOOL)
	$(MAKE) -C tools OUT=$(DEB_TOOL) EXTRA_CFLAGS="$$($(DEB_FLAGS) CFLAGS)" \
	    CPPFLAGS="$$($(DEB_FLAGS) CPPFLAGS)" LDFLAGS="$$($(DEB_FLAGS) LDFLAGS)"
	@scripts/build-deb $(DEB_MODULE)/ngx_http_microshop_module.so $(DEB_TOOL)

test-package: deb
	@t/package/run build/libnginx-mod-http-microshop_*.deb

run: build token-tool
	@scripts/run-demo start

stop:
	@scripts/run-demo stop

bench: build token-tool
	@bench/run

clean:
	rm -rf $(BUILD)
	$(MAKE) -C t/unit clean
	rm -rf $(TOP)/build-asan
	$(MAKE) -C tools clean
