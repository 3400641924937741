# Builds and installs libcport, the Win32 C ABI of cport, for C programs:
#
#   make                                 release build (cargo build --release -p cport-ffi)
#   make install PREFIX=/usr/local       install (DESTDIR=/staging is honoured)
#   make uninstall PREFIX=/usr/local     remove exactly what install put there
#
# Installs, with V = the version of ffi/Cargo.toml (MAJOR.MINOR.PATCH):
#   $(LIBDIR)/libcport.so.V          SONAME libcport.so.MAJOR (set by ffi/build.rs)
#   $(LIBDIR)/libcport.so.MAJOR      -> libcport.so.V
#   $(LIBDIR)/libcport.so            -> libcport.so.MAJOR (for -lcport)
#   $(LIBDIR)/libcport.a
#   $(INCLUDEDIR)/cport/win32/*.h    windows.h, winsock2.h, ...: never straight
#                                    into $(INCLUDEDIR), where they would shadow
#                                    other headers of the same names
#   $(LIBDIR)/pkgconfig/cport.pc     pkg-config --cflags --libs cport
#
# Build with:  cc prog.c $(pkg-config --cflags --libs cport)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CARGO ?= cargo
# A cargo profile (release, dev, or one of Cargo.toml's); its output directory.
PROFILE ?= release
PROFILE_DIR := $(if $(filter dev,$(PROFILE)),debug,$(PROFILE))
TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
BUILD_DIR := $(TARGET_DIR)/$(PROFILE_DIR)

VERSION := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' ffi/Cargo.toml | head -n 1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
SONAME := libcport.so.$(MAJOR)
REALNAME := libcport.so.$(VERSION)
HEADERS := $(notdir $(wildcard include/win32/*.h))

INSTALL ?= install

.PHONY: all build install uninstall

all: build

build:
	$(CARGO) build --profile $(PROFILE) -p cport-ffi

install: build
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)/cport/win32
	$(INSTALL) -m 755 $(BUILD_DIR)/libcport.so $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcport.so
	$(INSTALL) -m 644 $(BUILD_DIR)/libcport.a $(DESTDIR)$(LIBDIR)/libcport.a
	$(INSTALL) -m 644 $(addprefix include/win32/,$(HEADERS)) $(DESTDIR)$(INCLUDEDIR)/cport/win32/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    ffi/cport.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cport.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cport.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcport.so $(DESTDIR)$(LIBDIR)/libcport.a \
	    $(DESTDIR)$(PKGCONFIGDIR)/cport.pc \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/cport/win32/,$(HEADERS))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/cport/win32 $(DESTDIR)$(INCLUDEDIR)/cport 2>/dev/null
