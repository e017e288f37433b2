# Debian packages with CPack (cpack -G DEB in the build tree, or
# cmake --build BUILD --target package):
#
#   rspbridge            component tools: the programs, man pages, GDB helper
#   librspstub-core-dev  component dev: librspstub-core.a, headers, .pc file
#
# CPack rather than debian/ + dpkg-buildpackage: the packages come from the
# same install rules `cmake --install` uses and from a tree that is already
# built (no second build, no debhelper in the CI image), and the version is
# project()'s.  dpkg-shlibdeps (dpkg-dev, part of build-essential) computes
# the library dependencies (libuv1, libexpat1, libc6) with their versions.
set(CPACK_PACKAGE_NAME rspbridge)
set(CPACK_PACKAGE_VENDOR "the rspbridge authors")
# RSP_DEB_MAINTAINER (cmake/install.cmake): whoever publishes the packages
# sets their own address.
set(CPACK_PACKAGE_CONTACT "${RSP_DEB_MAINTAINER}")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPackDeb would put it before each
# package's own summary line below.
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL tools dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# A native package (version 0.1.0, no Debian revision): built from the
# upstream tree itself; the Debian changelog points to CHANGELOG.md.

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME rspbridge)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "gdb-multiarch | gdb")
set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS
    "qemu-system-x86 | qemu-system-arm | qemu-system-misc, lldb")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
    "GDB remote serial protocol bridge with page-table commands, dump server
rspbridge sits between GDB (or any RSP client) and a gdbstub (QEMU, a board
on a serial line) and adds monitor commands that walk page tables (vtop, pte,
maps, ptov) and access physical memory, a memory cache and address-space
contexts.  rspstub serves QEMU memory dumps over the same protocol.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME librspstub-core-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "pkg-config | pkgconf")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "portable GDB remote serial protocol stub core (static library)
A freestanding gdbstub core (stub.h) and the RSP wire format (rsp.h) as one
static library for hosted stubs, simulators and tests, with a pkg-config file:
cc prog.c $(pkg-config --cflags --libs rspstub-core).")

include(CPack)
