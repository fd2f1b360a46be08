#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Lists string literals split across source lines, so that every message stays greppable.
# Usage: split_literals.py [--all] FILE...; prints FILE:LINE: PIECE for each split (the line and
# the text of its first piece) and exits 1 if there is any. --all also counts pieces that end in
# an escaped newline.
#
# A split is two string literals with only whitespace between them, a line break among it, where
# the first does not end in an escaped newline (\n): text that ends a line of output may go on
# with the next line of output on the next source line, one output line per source line. Comments,
# character literals and raw strings are skipped; a raw string never counts as a piece.
import re
import sys

TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?\*/)"""
    r"""|(?P<raw>(?:u8|u|U|L)?R"(?P<delim>[^()\\\s]{0,16})\((?:.|\n)*?\)(?P=delim)")"""
    r"""|(?P<string>(?:u8|u|U|L)?"(?:[^"\\\n]|\\.)*")"""
    r"""|(?P<char>'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<space>\s+)"""
    r"""|(?P<other>\w+|.)""",
    re.DOTALL)


def splits(text, every=False):
    """Yields (line, first piece) for each split literal in text (every: also those ending in
    an escaped newline)."""
    last = None  # the previous string literal token, while only whitespace has followed it
    gap = ""
    line = 1
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "delim":
            kind = "raw"
        token = m.group(0)
        if kind == "string":
            if last is not None and "\n" in gap and (every or not last[1].endswith('\\n"')):
                yield last
            last = (line, token)
            gap = ""
        elif kind == "space":
            gap += token
        elif kind == "comment":
            gap += token  # a comment between two pieces does not join them
        else:
            last = None
            gap = ""
        line += token.count("\n")


def main(args):
    every = args[:1] == ["--all"]
    paths = args[1:] if every else args
    found = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line, piece in splits(text, every):
            found += 1
            print(f"{path}:{line}: {piece}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
