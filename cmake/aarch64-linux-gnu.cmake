# SPDX-License-Identifier: MIT
# CMake toolchain file for Debian's arm64 cross toolchain (crossbuild-essential-arm64) and the
# arm64 -dev packages installed beside the build machine's (multiarch, no sysroot):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#     -DKVMPROV_YAML_CPP_LIBDIR=DIR
# The default profile is then compiled in as text (KVMPROV_EMBED_PARSED_PROFILE turns itself off),
# since the build cannot run what it builds.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# pkg-config reads the arm64 .pc files and the architecture-independent ones (systemd.pc), never
# the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)

# libyaml-cpp-dev has no Multi-Arch on Debian 12, so the arm64 one cannot be installed beside the
# build machine's. KVMPROV_YAML_CPP_LIBDIR names the usr/lib/aarch64-linux-gnu folder of
# libyaml-cpp-dev:arm64 and its library package unpacked elsewhere (tests/cross/arm64.sh does it):
# its CMake package and libyaml-cpp.a are found there. The headers are the same on every
# architecture.
if(KVMPROV_YAML_CPP_LIBDIR)
  list(APPEND CMAKE_LIBRARY_PATH ${KVMPROV_YAML_CPP_LIBDIR})
  set(yaml-cpp_DIR ${KVMPROV_YAML_CPP_LIBDIR}/cmake/yaml-cpp)
endif()
