#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints every C++ function body of LIMIT lines or more: "file:line: name: N lines".

Usage: function_lengths.py [--limit N] FILE...   (default 80)

A function is a brace block opened at namespace or class scope whose head (the text since the
previous ';', '{' or '}') holds a parenthesis and is not a namespace, class, struct, union or enum.
Its length runs from the head's first line to the closing brace's line. Braces inside string and
character literals and comments do not count; lambdas count as part of the function around them.
"""
import re
import sys

HEAD_SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b")
NAME = re.compile(r"([~A-Za-z_][A-Za-z0-9_:<>~]*(?:operator\s*\S+)?)\s*\($")


def strip(text):
    """Replaces preprocessor lines, comments and the insides of string and character literals with spaces."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#" and text[text.rfind("\n", 0, i) + 1 : i].strip() == "":
            j = i
            while True:  # a preprocessor line, with its continuations
                j = text.find("\n", j)
                if j < 0 or text[j - 1] != "\\":
                    break
                j += 1
            j = n if j < 0 else j
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            k = text.find("(", i + 2)
            delim = text[i + 2 : k]
            j = text.find(")" + delim + '"', k)
            j = n if j < 0 else j + len(delim) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1 : j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    text = strip(open(path, encoding="utf-8", errors="replace").read())
    stack = []  # open blocks: "scope", "other", or ("func", (first line, name))
    head_start = 0
    for m in re.finditer(r"[{};]", text):
        c, pos = m.group(), m.start()
        inside_func = any(isinstance(s, tuple) for s in stack)
        if c == "{":
            head = text[head_start:pos]
            if inside_func:
                stack.append("other")
            elif HEAD_SCOPE.search(head) and "(" not in head[: HEAD_SCOPE.search(head).start()]:
                stack.append("scope")
            elif "(" in head and not head.strip().startswith("="):
                first = len(head) - len(head.lstrip())
                start_line = text.count("\n", 0, head_start + first) + 1
                sig = " ".join(head.split())
                paren = sig.find("(")
                name = NAME.search(sig[: paren + 1])
                stack.append(("func", (start_line, name.group(1) if name else sig[:40])))
            else:
                stack.append("other")
            head_start = pos + 1
        elif c == "}":
            if stack:
                top = stack.pop()
                if isinstance(top, tuple):
                    start_line, name = top[1]
                    end_line = text.count("\n", 0, pos) + 1
                    yield name, start_line, end_line - start_line + 1
            head_start = pos + 1
        else:
            head_start = pos + 1


def main(argv):
    limit = 80
    if len(argv) > 1 and argv[0] == "--limit":
        limit = int(argv[1])
        argv = argv[2:]
    for path in argv:
        for name, line, length in functions(path):
            if length >= limit:
                print(f"{path}:{line}: {name}: {length} lines")


if __name__ == "__main__":
    main(sys.argv[1:])
