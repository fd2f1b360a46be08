// SPDX-License-Identifier: MIT
// doctest's runner for every *_test.cc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
