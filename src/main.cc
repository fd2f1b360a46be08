// SPDX-License-Identifier: MIT
// kvmprov command line (being written).
int main() { return 0; }
