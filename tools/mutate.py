#!/usr/bin/env python3
"""tools/mutate.py - the engine of tools/mutate.sh (mutation testing of the two headers).

Run it through tools/mutate.sh, which snapshots the work tree into a scratch directory and
passes --snapshot; `tools/mutate.sh --help` lists the options. The engine:

  * finds the mutable code: function bodies (the implementation and the VMS_INLINE helpers)
    of vmspace.h and vmspace_owner.h, only the lines the test configuration compiles
    (VMSPACE_DEBUG=1, both implementations; found by preprocessing a marked copy), never
    comments, string literals or preprocessor directives;
  * generates the mutants (see OPERATORS below), each with a stable id
    FILE:HASH:OP:N, where HASH is the first 8 hex digits of the SHA-1 of the mutated line's
    text (stripped of surrounding blanks), OP the operator and N the occurrence of that
    operator on the line. A line whose text appears more than once in the file gets
    "@FUNCTION" appended to the hash, and "#K" after that if it repeats inside a function;
  * picks a deterministic sample (ordered by a hash of seed and id, spread over the files in
    proportion to their mutants), applies each mutant to a private copy, rebuilds and runs
    the fast suite or the fuzz targets, and writes results.tsv and summary.txt.

Rebuilds are cheap: the build goes through a small compiler launcher (WRAPPER below) that
keeps the unmutated objects, and the engine knows from a marked preprocessing of every
translation unit which units compile which header lines; a mutant recompiles only the units
that compile its lines (for most, tests/impl.c alone) and copies the other objects back.

Python 3 standard library only.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HEADERS = ("vmspace.h", "vmspace_owner.h")
MEMORY_LIMIT = 8 << 30  # address space of one test executable in the unit mode

# The fast suite: every tests/test_*.c executable (not the _O3 and _n4 rebuilds of the same
# sources), less these tests (suite/name, as Criterion's --filter spells them), and less any
# test that fails on the unmutated tree (dropped with a warning: work in progress elsewhere).
SUITE_EXCLUDED = {
    # Compiles the headers twice with -O2 (about 5 of the executable's 6 seconds) to check
    # that release objects hold no checker strings; no mutant of code changes that.
    "test_owner_checker": ["owner_checker/release_build_has_no_checker"],
}

OPERATORS = {
    "rel": "relational operator flipped (< <=, > >=, == !=)",
    "logic": "&& and || swapped",
    "mask": "binary & and | swapped (also &= and |=)",
    "mask-tilde": "~ removed",
    "mask-macro": "a mask macro replaced by its neighbour in its #define run",
    "const+1": "integer literal n -> n+1",
    "const-1": "integer literal n -> n-1",
    "del": "state update deleted (assignment, compound assignment, ++ or -- statement)",
    "negate-if": "if (c) -> if (!(c))",
    "return-ok": "return VMS_OK; inserted at the start of a function returning int",
}

PUNCTUATORS = sorted(
    """<<= >>= ... -> ++ -- << >> <= >= == != && || *= /= %= += -= &= ^= |= ## [ ] ( ) { }
    . & * + - ~ ! / % < > ^ | ? : ; = , #""".split(),
    key=len,
    reverse=True,
)

TYPE_WORDS = {
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool",
    "bool", "const", "volatile", "static", "extern", "register", "struct", "union", "enum",
    "typedef", "inline", "auto", "_Alignas", "_Atomic", "_Static_assert", "static_assert",
    "restrict",
}
KEYWORDS = TYPE_WORDS | {
    "return", "break", "continue", "goto", "if", "else", "while", "for", "do", "switch",
    "case", "default", "sizeof", "_Alignof",
}
ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
REL_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}


# ---------------------------------------------------------------------------------------------
# Lexing.


class Tok:
    __slots__ = ("kind", "text", "start", "end", "line")

    def __init__(self, kind, text, start, end, line):
        self.kind, self.text, self.start, self.end, self.line = kind, text, start, end, line

    def __repr__(self):
        return "Tok(%s %r @%d)" % (self.kind, self.text, self.line)


def _skip_literal(text, i):
    """Index just past the string or character literal that starts at i."""
    quote = text[i]
    i += 1
    n = len(text)
    while i < n and text[i] != quote and text[i] != "\n":
        i += 2 if text[i] == "\\" else 1
    return i + 1


def lex(text):
    """Tokens of C code, without comments, whitespace and preprocessor directives."""
    toks = []
    i, n, line = 0, len(text), 1
    bol = True  # nothing but blanks and comments since the start of the line
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            bol = True
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if c == "\\" and text.startswith("\\\n", i):
            i += 2
            line += 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "#" and bol:
            # A directive: up to the end of the logical line.
            while i < n and text[i] != "\n":
                if text.startswith("\\\n", i):
                    i += 2
                    line += 1
                elif text.startswith("/*", i):
                    j = text.find("*/", i + 2)
                    j = n if j < 0 else j + 2
                    line += text.count("\n", i, j)
                    i = j
                elif text.startswith("//", i):
                    j = text.find("\n", i)
                    i = n if j < 0 else j
                elif text[i] in "\"'":
                    i = _skip_literal(text, i)
                else:
                    i += 1
            continue
        bol = False
        start = i
        if c in "\"'":
            i = _skip_literal(text, i)
            toks.append(Tok("str", text[start:i], start, i, line))
            continue
        if c.isalpha() or c == "_":
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            if i < n and text[i] in "\"'" and text[start:i] in ("L", "u", "U", "u8"):
                i = _skip_literal(text, i)
                toks.append(Tok("str", text[start:i], start, i, line))
            else:
                toks.append(Tok("id", text[start:i], start, i, line))
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            i += 1
            while i < n:
                if text[i] in "eEpP" and i + 1 < n and text[i + 1] in "+-":
                    i += 2
                elif text[i].isalnum() or text[i] in "._":
                    i += 1
                else:
                    break
            toks.append(Tok("num", text[start:i], start, i, line))
            continue
        for p in PUNCTUATORS:
            if text.startswith(p, i):
                i += len(p)
                break
        else:
            i += 1
        toks.append(Tok("op", text[start:i], start, i, line))
    return toks


def line_starts(text):
    starts = [0, 0]  # 1-based: starts[1] is line 1
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


# ---------------------------------------------------------------------------------------------
# Which lines the test configuration compiles: a copy with a marker comment at the start of
# every code line, preprocessed with -C (comments kept); the markers that survive are live.


def write_marked(texts, outdir):
    """Copies of the headers in outdir with a marker before the first token of each line."""
    for idx, name in enumerate(HEADERS):
        if name not in texts:
            continue
        text = texts[name]
        starts = line_starts(text)
        first_on_line = {}
        for t in lex(text):
            first_on_line.setdefault(t.line, t)
        out, last = [], 0
        for ln, t in sorted(first_on_line.items()):
            s = starts[ln]
            if text[s : t.start].strip():  # a comment before the token: leave it alone
                continue
            out.append(text[last:s])
            out.append("/*@MUT%d:%d@*/" % (idx, ln))
            last = s
        out.append(text[last:])
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write("".join(out))


def parse_markers(preprocessed):
    live = {name: set() for name in HEADERS}
    for m in re.finditer(r"/\*@MUT(\d+):(\d+)@\*/", preprocessed):
        live[HEADERS[int(m.group(1))]].add(int(m.group(2)))
    return live


def live_lines(texts, cc, defines):
    """{file: set of live line numbers} of the implementation's translation unit."""
    with tempfile.TemporaryDirectory(prefix="vms-live-") as tmp:
        write_marked(texts, tmp)
        tu = os.path.join(tmp, "live.c")
        with open(tu, "w", encoding="utf-8") as f:
            f.write("#define VMSPACE_IMPLEMENTATION\n#include \"vmspace.h\"\n")
            if "vmspace_owner.h" in texts:
                f.write("#define VMSPACE_OWNER_IMPLEMENTATION\n#include \"vmspace_owner.h\"\n")
        cmd = [cc, "-E", "-C", "-std=c11", "-I" + tmp] + ["-D" + d for d in defines] + [tu]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if res.returncode != 0:
            sys.exit("mutate: preprocessing the headers failed:\n" + res.stderr[-2000:])
    return parse_markers(res.stdout)


def continuation_lines(text):
    """Lines whose first token is inside brackets: maybe inside a macro's arguments, where the
    line-start marker can vanish while the rest of the line stays; rebuilt everywhere."""
    out = set()
    depth = 0
    last_line = 0
    for t in lex(text):
        if t.line != last_line:
            if depth > 0:
                out.add(t.line)
            last_line = t.line
        if t.text in ("(", "["):
            depth += 1
        elif t.text in (")", "]"):
            depth = max(0, depth - 1)
    return out


# ---------------------------------------------------------------------------------------------
# Mask macros: runs of consecutive object-like #define lines; a use is replaced by the next
# one in its run (the previous one for the last).


DEFINE_RE = re.compile(r"^\s*#\s*define\s+(VMS\w+)(\s+(.*?))?\s*(/\*.*)?$")


def macro_family(name):
    """VMS_PTE_RW -> VMS_PTE, VMS__COPY_TO -> VMS__COPY, VMS_R (one word) -> VMS_."""
    m = re.match(r"(VMS[A-Z]*_+)(.*)", name)
    prefix, rest = m.group(1), m.group(2)
    parts = rest.split("_")
    return prefix + parts[0] if len(parts) > 1 else prefix


def mask_runs(texts):
    """{macro: its neighbour}: runs of consecutive object-like #defines of one family."""
    neighbour = {}
    for text in texts.values():
        run = []
        lines = text.split("\n")
        for s in lines + [""]:
            m = DEFINE_RE.match(s)
            ok = (
                m is not None
                and m.group(3)
                and not m.group(1).endswith("_INCLUDED")
                and not s.rstrip().endswith("\\")
                and '"' not in m.group(3)
                and re.fullmatch(r"[\w\s()|&~<>+*-]+", m.group(3))
                and re.search(r"[0-9|]", m.group(3))  # a number or a mask, not an attribute
                and not re.search(r"_(SHIFT|BITS)$", m.group(1))  # amounts, not masks
            )
            if ok and run and macro_family(run[-1]) != macro_family(m.group(1)):
                if len(run) >= 2:
                    for k, name in enumerate(run):
                        other = run[k + 1] if k + 1 < len(run) else run[k - 1]
                        neighbour.setdefault(name, other)
                run = []
            if ok:
                run.append(m.group(1))
                continue
            if len(run) >= 2:
                for k, name in enumerate(run):
                    other = run[k + 1] if k + 1 < len(run) else run[k - 1]
                    neighbour.setdefault(name, other)
            run = []
    return neighbour


# ---------------------------------------------------------------------------------------------
# Functions and statements.


class Func:
    def __init__(self, name, open_i, close_i, returns_int):
        self.name, self.open_i, self.close_i, self.returns_int = name, open_i, close_i, returns_int


def match_forward(toks, i):
    """Index of the bracket that closes toks[i]."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    want = pairs[toks[i].text]
    opener = toks[i].text
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j].text
        if t == opener:
            depth += 1
        elif t == want:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced %r at line %d" % (opener, toks[i].line))


def match_backward(toks, i):
    """Index of the ( that opens the ) at toks[i]."""
    depth = 0
    for j in range(i, -1, -1):
        t = toks[j].text
        if t == ")":
            depth += 1
        elif t == "(":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced ) at line %d" % toks[i].line)


def find_functions(toks):
    funcs = []
    depth = 0
    i = 0
    while i < len(toks):
        t = toks[i].text
        if t == "{":
            if depth == 0 and i > 0 and toks[i - 1].text == ")":
                close = match_forward(toks, i)
                lp = match_backward(toks, i - 1)
                name = toks[lp - 1].text if lp > 0 and toks[lp - 1].kind == "id" else "?"
                before = toks[lp - 2].text if lp > 1 else ""
                funcs.append(Func(name, i, close, before in ("int", "vms_err")))
                i = close + 1
                continue
            depth += 1
        elif t == "}":
            depth -= 1
        i += 1
    return funcs


class StmtParser:
    """Just enough of C's statement grammar to find statements and if conditions."""

    def __init__(self, toks):
        self.toks = toks
        self.simple = []  # (first, semicolon) index pairs of simple statements
        self.ifs = []  # (lparen, rparen) of if conditions

    def block(self, i):
        i += 1
        while self.toks[i].text != "}":
            i = self.stmt(i)
        return i + 1

    def paren(self, i):
        if self.toks[i].text != "(":
            raise ValueError("expected ( at line %d" % self.toks[i].line)
        return match_forward(self.toks, i)

    def stmt(self, i):
        toks = self.toks
        t = toks[i].text
        if t == "{":
            return self.block(i)
        if t == ";":
            return i + 1
        if t in ("if", "while", "switch", "for"):
            rp = self.paren(i + 1)
            if t == "if":
                self.ifs.append((i + 1, rp))
            j = self.stmt(rp + 1)
            if t == "if" and toks[j].text == "else":
                j = self.stmt(j + 1)
            return j
        if t == "do":
            j = self.stmt(i + 1)
            rp = self.paren(j + 1)
            return rp + 2
        if t in ("case", "default"):
            j = i + 1
            depth = 0
            while not (toks[j].text == ":" and depth == 0):
                if toks[j].text in ("(", "[", "?"):
                    depth += 1
                elif toks[j].text in (")", "]") or (toks[j].text == ":" and depth):
                    depth -= 1
                j += 1
            return self.stmt(j + 1)
        if toks[i].kind == "id" and t not in KEYWORDS and toks[i + 1].text == ":":
            return self.stmt(i + 2)
        j = i
        depth = 0
        while not (toks[j].text == ";" and depth == 0):
            if toks[j].text in ("(", "[", "{"):
                depth += 1
            elif toks[j].text in (")", "]", "}"):
                depth -= 1
            j += 1
        self.simple.append((i, j))
        return j + 1


def is_declaration(toks, i, j):
    first = toks[i]
    if first.text in TYPE_WORDS:
        return True
    if first.kind != "id" or first.text in KEYWORDS:
        return False
    k = i + 1
    if toks[k].kind == "id":
        return True
    while toks[k].text == "*":
        k += 1
    return k > i + 1 and toks[k].kind == "id" and toks[k + 1].text in ("=", ";", ",", "[", ")")


def is_state_update(toks, i, j):
    if toks[i].text in KEYWORDS or is_declaration(toks, i, j):
        return False
    depth = 0
    for k in range(i, j):
        t = toks[k].text
        if t in ("(", "[", "{"):
            depth += 1
        elif t in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and (t in ASSIGN_OPS or t in ("++", "--")):
            return True
    return False


def is_cast_close(toks, k):
    """toks[k] is ')': does it close a cast such as (uint64_t) or (const char *)?"""
    try:
        lp = match_backward(toks, k)
    except ValueError:
        return False
    inner = toks[lp + 1 : k]
    if not inner:
        return False
    if inner[0].text in TYPE_WORDS:
        return True
    return (
        inner[0].kind == "id"
        and inner[0].text.endswith("_t")
        and all(t.text == "*" or t.text in TYPE_WORDS for t in inner[1:])
    )


def ends_operand(toks, k):
    t = toks[k]
    if t.kind in ("num", "str"):
        return True
    if t.kind == "id":
        return t.text not in KEYWORDS
    if t.text == "]":
        return True
    if t.text == ")":
        return not is_cast_close(toks, k)
    return False


# ---------------------------------------------------------------------------------------------
# Mutants.


class Mutant:
    __slots__ = ("file", "line", "op", "edits", "func", "site", "id", "orig", "mut", "key",
                 "lines", "uncertain")

    def __init__(self, file, line, op, edits, func, site):
        self.file, self.line, self.op, self.edits, self.func = file, line, op, edits, func
        self.site = site  # character offset, to order sites on a line
        self.id = self.orig = self.mut = self.key = None
        self.lines, self.uncertain = [], False

    def apply(self, text):
        out, last = [], 0
        for start, end, new in sorted(self.edits):
            out.append(text[last:start])
            out.append(new)
            last = end
        out.append(text[last:])
        return "".join(out)


def int_literal_mutants(tok):
    m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)", tok.text)
    if not m:
        return []
    digits, suffix = m.group(1), m.group(2)
    if digits[:2] in ("0x", "0X"):
        value = int(digits, 16)
        width = len(digits) - 2

        def fmt(v):
            return digits[:2] + format(v, "0%dx" % width)

    elif len(digits) > 1 and digits[0] == "0":  # octal
        value = int(digits, 8)

        def fmt(v):
            return "0" + format(v, "o")

    else:
        value = int(digits)

        def fmt(v):
            return str(v)

    out = [("const+1", fmt(value + 1) + suffix)]
    if value > 0:
        out.append(("const-1", fmt(value - 1) + suffix))
    return out


def file_mutants(name, text, live, neighbours):
    toks = [t for t in lex(text) if t.line in live]
    muts = []

    def add(line, op, edits, func, site):
        muts.append(Mutant(name, line, op, edits, func, site))

    for f in find_functions(toks):
        body = toks[f.open_i : f.close_i + 1]
        if f.returns_int:
            o = body[0]
            add(o.line, "return-ok", [(o.end, o.end, " return VMS_OK;")], f.name, o.start)
        parser = StmtParser(body)
        try:
            parser.block(0)
        except (ValueError, IndexError) as e:
            print("mutate: %s: cannot parse %s (%s); statement mutants skipped" % (name, f.name, e),
                  file=sys.stderr)
        for i, j in parser.simple:
            if is_state_update(body, i, j):
                a, b = body[i], body[j]
                new = "(void)0;" + "\n" * text.count("\n", a.start, b.end)
                add(a.line, "del", [(a.start, b.end, new)], f.name, a.start)
        for lp, rp in parser.ifs:
            a, b = body[lp], body[rp]
            add(body[lp - 1].line, "negate-if", [(a.end, a.end, "!("), (b.start, b.start, ")")],
                f.name, body[lp - 1].start)
        for k in range(1, len(body) - 1):
            t = body[k]
            if t.kind == "num":
                for op, new in int_literal_mutants(t):
                    add(t.line, op, [(t.start, t.end, new)], f.name, t.start)
            elif t.kind == "id" and t.text in neighbours:
                add(t.line, "mask-macro", [(t.start, t.end, neighbours[t.text])], f.name, t.start)
            elif t.text in REL_SWAP:
                add(t.line, "rel", [(t.start, t.end, REL_SWAP[t.text])], f.name, t.start)
            elif t.text in ("&&", "||"):
                new = "||" if t.text == "&&" else "&&"
                add(t.line, "logic", [(t.start, t.end, new)], f.name, t.start)
            elif t.text in ("&=", "|="):
                new = "|=" if t.text == "&=" else "&="
                add(t.line, "mask", [(t.start, t.end, new)], f.name, t.start)
            elif t.text == "|" or (t.text == "&" and ends_operand(body, k - 1)):
                new = "&" if t.text == "|" else "|"
                add(t.line, "mask", [(t.start, t.end, new)], f.name, t.start)
            elif t.text == "~":
                add(t.line, "mask-tilde", [(t.start, t.end, "")], f.name, t.start)
    return muts


def describe(m, text, starts):
    """Original and mutated text of the lines a mutant touches, each on one line."""
    lo = min(e[0] for e in m.edits)
    hi = max(e[1] for e in m.edits)
    a = starts[text.count("\n", 0, lo) + 1]
    b = text.find("\n", hi)
    b = len(text) if b < 0 else b
    orig = text[a:b]
    shifted = Mutant(m.file, m.line, m.op, [(s - a, e - a, n) for s, e, n in m.edits], m.func, 0)
    mut = shifted.apply(orig)

    def flat(s):
        s = " ".join(s.split())
        return s if len(s) <= 160 else s[:157] + "..."

    return flat(orig), flat(mut)


def generate(texts, cc, defines):
    live = live_lines(texts, cc, defines)
    neighbours = mask_runs(texts)
    allm = []
    for name in HEADERS:
        if name not in texts:
            continue
        text = texts[name]
        starts = line_starts(text)
        lines = text.split("\n")
        muts = file_mutants(name, text, live[name], neighbours)
        cont = continuation_lines(text)
        muts.sort(key=lambda m: (m.line, m.site, m.op))
        # Ids: hash of the line's text, then the function, then a counter if still ambiguous.
        line_hash = {}
        by_text = {}
        for m in muts:
            s = lines[m.line - 1].strip()
            line_hash[m.line] = hashlib.sha1(s.encode()).hexdigest()[:8]
            by_text.setdefault(s, set()).add(m.line)
        occ = {}
        func_seen = {}
        for m in muts:
            s = lines[m.line - 1].strip()
            h = line_hash[m.line]
            if len(by_text[s]) > 1:
                h += "@" + m.func
                k = func_seen.setdefault((s, m.func), [])
                if m.line not in k:
                    k.append(m.line)
                idx = k.index(m.line)
                if idx:
                    h += "#%d" % idx
            n = occ.get((m.line, m.op), 0)
            occ[(m.line, m.op)] = n + 1
            m.id = "%s:%s:%s:%d" % (name, h, m.op, n)
            m.lines = sorted({text.count("\n", 0, off) + 1 for e in m.edits for off in e[:2]})
            m.uncertain = any(x in cont for x in m.lines)
            m.orig, m.mut = describe(m, text, starts)
        allm.extend(muts)
    return allm


def select(muts, seed, files, ops, ids):
    pool = [m for m in muts if (not files or m.file in files) and (not ops or m.op in ops)]
    if ids:
        want = set(ids)
        chosen = [m for m in pool if m.id in want]
        missing = want - {m.id for m in chosen}
        for i in sorted(missing):
            print("mutate: no mutant with id %s" % i, file=sys.stderr)
        return chosen
    for m in pool:
        m.key = hashlib.sha1(("%s:%s" % (seed, m.id)).encode()).hexdigest()
    per_file = {}
    for m in pool:
        per_file.setdefault(m.file, []).append(m)
    for lst in per_file.values():
        lst.sort(key=lambda m: m.key)
    # Interleave the files in proportion to their sizes (a deterministic stride schedule).
    order = []
    pos = {f: 0 for f in per_file}
    total = len(pool)
    while len(order) < total:
        best = None
        for f, lst in per_file.items():
            if pos[f] >= len(lst):
                continue
            score = (pos[f] + 0.5) / len(lst)
            if best is None or score < best[0]:
                best = (score, f)
        f = best[1]
        order.append(per_file[f][pos[f]])
        pos[f] += 1
    return order


def load_equivalents(path):
    eq = {}
    if not os.path.exists(path):
        return eq
    with open(path, encoding="utf-8") as f:
        for raw in f:
            s = raw.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split(None, 1)
            eq[parts[0]] = parts[1] if len(parts) > 1 else ""
    return eq


# ---------------------------------------------------------------------------------------------
# The compiler launcher with a cache keyed by the preprocessed source.


# Written to the scratch directory and run with python3 -S as CMake's compiler launcher.
# Baseline builds (VMSPACE_MUTATE_STORE=1) compile, or take the object from a cache keyed by
# the flags and the preprocessed source, and keep each object and depfile as the pristine
# one of its output path. Mutant builds (VMSPACE_MUTATE_AFFECTED=file listing the objects
# whose translation units compile a mutated line) copy the pristine object of every other
# output instead of compiling it.
WRAPPER = r"""
import hashlib, os, shutil, subprocess, sys


def note(what, out):
    log = os.environ.get("VMSPACE_MUTATE_CACHE_LOG")
    if log:
        with open(log, "a") as f:
            f.write("cc-cache: %s %s\n" % (what, os.path.basename(out)))


def put(src, dst):
    tmp = dst + ".tmp%d" % os.getpid()
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def main(cache, cmd):
    if "-c" not in cmd or "-o" not in cmd:
        os.execvp(cmd[0], cmd)
    out = os.path.abspath(cmd[cmd.index("-o") + 1])
    dep = cmd[cmd.index("-MF") + 1] if "-MF" in cmd else None
    pristine = os.path.join(cache, "out-" + hashlib.sha1(out.encode()).hexdigest())
    affected = os.environ.get("VMSPACE_MUTATE_AFFECTED")
    if affected:
        with open(affected) as f:
            names = set(f.read().split("\n"))
        if out not in names and os.path.exists(pristine + ".o") and (
                dep is None or os.path.exists(pristine + ".d")):
            shutil.copyfile(pristine + ".o", out)
            if dep:
                shutil.copyfile(pristine + ".d", dep)
            note("pristine", out)
            return 0
        note("compile", out)
        return subprocess.call(cmd)
    if os.environ.get("VMSPACE_MUTATE_STORE") != "1":
        os.execvp(cmd[0], cmd)
    pre = list(cmd)
    pre[pre.index("-c")] = "-E"
    pre[pre.index("-o") + 1] = out + ".i"
    key = None
    if subprocess.call(pre, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        h = hashlib.sha256("\0".join(cmd).encode())
        with open(out + ".i", "rb") as f:
            h.update(f.read())
        key = os.path.join(cache, "pp-" + h.hexdigest() + ".o")
        os.unlink(out + ".i")
    if key and os.path.exists(key):
        shutil.copyfile(key, out)
        rc = 0
        note("hit", out)
    else:
        rc = subprocess.call(cmd)
        note("miss", out)
        if rc == 0 and key:
            put(out, key)
    if rc == 0:
        put(out, pristine + ".o")
        if dep:
            put(dep, pristine + ".d")
        with open(os.path.join(cache, "used"), "a") as f:
            f.write("%s\n%s\n" % (os.path.basename(key or ""), os.path.basename(pristine)))
    return rc


sys.exit(main(sys.argv[1], sys.argv[2:]))
"""


# ---------------------------------------------------------------------------------------------
# Running.


def limit_memory():
    """A mutant that allocates without end fails instead of taking the machine's memory.
    Not under sanitizers: ASan reserves terabytes of shadow address space."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(cmd, cwd=None, env=None, timeout=None, log=None, preexec=None):
    """(returncode, timed_out, output). Runs cmd in its own process group."""
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=preexec)
    try:
        out, _ = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        timed_out = True
    text = out.decode("utf-8", "replace")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write("$ %s  (%.1fs, rc %s%s)\n" % (" ".join(cmd), time.time() - t0, p.returncode,
                                                  ", timed out" if timed_out else ""))
            f.write(text[-20000:])
            f.write("\n")
    return p.returncode, timed_out, text


def clean_env(tmp):
    env = dict(os.environ)
    env["TMPDIR"] = tmp
    env.pop("CRITERION_JOBS", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


class Worker:
    """One private copy of the tree and its build directories."""

    def __init__(self, opts, k):
        self.opts = opts
        self.dir = os.path.join(opts.scratch, "w%d" % k)
        self.src = os.path.join(self.dir, "src")
        self.build = os.path.join(self.dir, "build")
        self.fbuild = os.path.join(self.dir, "build-fuzz")
        self.tmp = os.path.join(self.dir, "tmp")
        self.env = clean_env(self.tmp)
        self.tests = []  # (name, baseline seconds)
        self.fuzzers = []  # (name, seed dirs, committed inputs, defines the implementation)
        self.units = {}  # object -> {header: live lines}, None when unknown
        self.affected_now = None
        self.kills = {}  # (header, test) -> kills, to order the executables
        self.excluded = {}  # test executable -> tests left out (suite/name)

    def prepare(self, pristine):
        shutil.rmtree(self.src, ignore_errors=True)
        shutil.copytree(self.opts.snapshot, self.src, copy_function=shutil.copyfile,
                        symlinks=True)
        os.makedirs(self.tmp, exist_ok=True)
        self.pristine = pristine
        self.current = dict(pristine)

    def put(self, texts):
        """Make the headers in the copy read texts (files not in texts read pristine)."""
        for name in self.pristine:
            want = texts.get(name, self.pristine[name])
            if self.current.get(name) != want:
                with open(os.path.join(self.src, name), "w", encoding="utf-8") as f:
                    f.write(want)
                self.current[name] = want

    # --- unit-test mode ---------------------------------------------------------------------

    def limit(self):
        if not self.opts.sanitize:
            limit_memory()

    def configure_unit(self, log):
        launcher = self.launcher()
        cmd = ["cmake", "-S", self.src, "-B", self.build, "-G", "Ninja",
               "-DCMAKE_BUILD_TYPE=", "-DCMAKE_C_FLAGS=-O1", "-DCMAKE_CXX_FLAGS=-O1",
               "-DCMAKE_C_COMPILER=" + self.opts.cc,
               "-DCMAKE_C_COMPILER_LAUNCHER=" + launcher,
               "-DVMSPACE_BUILD_TESTS=ON", "-DVMSPACE_BUILD_BENCH=OFF",
               "-DVMSPACE_BUILD_FUZZ=OFF", "-DVMSPACE_BUILD_TOOLS=OFF", "-DVMSPACE_INSTALL=OFF",
               "-DVMSPACE_SANITIZE=" + (self.opts.sanitize or ""), "-DVMSPACE_DEBUG_TESTS=ON",
               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"]
        rc, _, out = run(cmd, env=self.env, log=log)
        if rc != 0:
            sys.exit("mutate: cmake failed:\n" + out[-3000:])
        names = sorted(f[:-2] for f in os.listdir(os.path.join(self.src, "tests"))
                       if f.startswith("test_") and f.endswith(".c"))
        self.tests = [(n, 0.0) for n in names]

    def map_units(self, texts, log):
        """Which header lines each translation unit of the suite compiles."""
        with open(os.path.join(self.build, "compile_commands.json"), encoding="utf-8") as f:
            entries = json.load(f)
        prefixes = ["CMakeFiles/vmspace_test_support.dir/"]
        prefixes += ["CMakeFiles/%s.dir/" % n for n, _ in self.tests]
        jobs = []
        for e in entries:
            args = e.get("arguments") or shlex.split(e["command"])
            out = e.get("output") or args[args.index("-o") + 1]
            if any(out.startswith(p) for p in prefixes):
                jobs.append((os.path.normpath(os.path.join(e["directory"], out)), args,
                             e["directory"]))
        self.units = self.scan_units(texts, jobs, log)

    def scan_units(self, texts, jobs, log):
        """{object: {header: live lines} or None}, for (object, compile argv, cwd) jobs: each
        source preprocessed with -C against marked copies of the headers."""
        marked = os.path.join(self.dir, "marked")
        shutil.rmtree(marked, ignore_errors=True)
        os.makedirs(marked)
        write_marked(texts, marked)

        def one(job):
            out, args, cwd = job
            pre = [args[0], "-I" + marked]
            skip = 0
            for a in args[1:]:
                if skip:
                    skip -= 1
                elif a in ("-o", "-MT", "-MF", "-MQ"):
                    skip = 1
                elif a in ("-MD", "-MMD"):
                    pass
                elif a == "-c":
                    pre += ["-E", "-C"]
                else:
                    pre.append(a)
            res = subprocess.run(pre, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, errors="replace")
            return out, (parse_markers(res.stdout) if res.returncode == 0 else None)

        units = {}
        with concurrent.futures.ThreadPoolExecutor(max(1, self.opts.build_jobs)) as ex:
            for out, live in ex.map(one, jobs):
                units[out] = live
        with open(log, "a", encoding="utf-8") as f:
            for out, live in sorted(units.items()):
                f.write("unit %s: %s\n" % (out, "unknown (always rebuilt)" if live is None else
                        ", ".join("%s %d lines" % (h, len(v)) for h, v in sorted(live.items()))))
        return units

    def affected(self, m):
        """The objects whose translation units compile a line of mutant m."""
        names = []
        for out, live in self.units.items():
            lines = None if live is None else live.get(m.file, set())
            if lines is None or (m.uncertain and lines) or any(x in lines for x in m.lines):
                names.append(out)
        return names

    def mark_affected(self, m):
        """Tell the launcher which objects compile a line of mutant m; the rest are copied."""
        names = self.affected(m)
        self.affected_now = set(names)
        path = os.path.join(self.dir, "affected.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(names) + "\n")
        self.env["VMSPACE_MUTATE_AFFECTED"] = path
        return names

    def build_unit(self, log, timeout=900):
        cmd = ["ninja", "-C", self.build, "-j", str(self.opts.build_jobs)]
        cmd += [n for n, _ in self.tests]
        rc, timed_out, out = run(cmd, env=self.env, timeout=timeout, log=log)
        return rc == 0 and not timed_out, out

    def test_cmd(self, name):
        cmd = [os.path.join(self.build, name), "--color=never", "-f",
               "--timeout", str(self.opts.test_timeout)]
        if self.excluded.get(name):
            cmd += ["--filter", "!(%s)" % "|".join(self.excluded[name])]
        return cmd

    def baseline_unit(self, log):
        times = []
        self.excluded = {k: list(v) for k, v in SUITE_EXCLUDED.items()}
        for name, _ in self.tests:
            for attempt in range(2):
                t0 = time.time()
                rc, timed_out, out = run(self.test_cmd(name), cwd=self.build, env=self.env,
                                         timeout=600, log=log, preexec=self.limit)
                dt = time.time() - t0
                if rc == 0 and not timed_out:
                    break
                failed = sorted(set("%s/%s" % m for m in re.findall(
                    r"^\[FAIL\] ([^:\s]+)::([^:\s]+):", out, re.M)))
                if attempt or timed_out or not failed:
                    sys.exit("mutate: %s fails on the unmutated tree (see %s):\n%s"
                             % (name, log, out[-3000:]))
                print("mutate: warning: %s fails on the unmutated tree: left out: %s"
                      % (name, " ".join(failed)))
                self.excluded.setdefault(name, []).extend(failed)
            times.append((name, dt))
        self.tests = times

    def run_unit(self, m, log):
        """(status, killer)."""
        order = sorted(self.tests, key=lambda nt: (-self.kills.get((m.file, nt[0]), 0), nt[1]))
        for name, base in order:
            limit = max(self.opts.exe_timeout, 5 * base)
            rc, timed_out, out = run(self.test_cmd(name), cwd=self.build, env=self.env,
                                     timeout=limit, log=log, preexec=self.limit)
            if timed_out or rc != 0:
                with self.opts.lock:
                    self.kills[(m.file, name)] = self.kills.get((m.file, name), 0) + 1
                if timed_out or "Timed out" in out:
                    return "timeout", name
                return "killed", name
        return "survived", ""

    # --- fuzz mode --------------------------------------------------------------------------

    def launcher(self):
        os.makedirs(self.opts.cache, exist_ok=True)
        wrapper = os.path.join(self.opts.scratch, "cc-wrap.py")
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write(WRAPPER)
        return "%s;-S;-E;%s;%s" % (sys.executable, wrapper, self.opts.cache)

    def configure_fuzz(self, log):
        cmd = ["cmake", "-S", self.src, "-B", self.fbuild, "-G", "Ninja",
               "-DCMAKE_BUILD_TYPE=", "-DCMAKE_C_COMPILER=" + self.opts.fuzz_cc,
               "-DCMAKE_C_COMPILER_LAUNCHER=" + self.launcher(),
               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
               "-DVMSPACE_BUILD_TESTS=ON", "-DVMSPACE_BUILD_FUZZ=ON", "-DVMSPACE_BUILD_BENCH=OFF",
               "-DVMSPACE_BUILD_TOOLS=OFF", "-DVMSPACE_INSTALL=OFF", "-DVMSPACE_SANITIZE="]
        rc, _, out = run(cmd, env=self.env, log=log)
        known = set()
        if rc == 0:
            _, _, targets = run(["ninja", "-C", self.fbuild, "-t", "targets", "all"],
                                env=self.env)
            known = set(re.findall(r"^(fuzz_\w+):", targets, re.M))
        fdir = os.path.join(self.src, "tests", "fuzz")
        self.fuzzers, self.fuzz_support = [], []
        harnesses = []
        for f in sorted(os.listdir(fdir)):
            if not f.endswith(".c"):
                continue
            with open(os.path.join(fdir, f), encoding="utf-8", errors="replace") as fh:
                body = fh.read()
            if f.startswith("fuzz_") and "LLVMFuzzerTestOneInput" in body:
                own_impl = re.search(r"^\s*#\s*define\s+VMSPACE_IMPLEMENTATION\b", body, re.M)
                harnesses.append((f[:-2], bool(own_impl)))
            elif "main(" not in body:  # not a seed generator or another program
                self.fuzz_support.append(f)
        for name, own_impl in harnesses:
            seeds, inputs = fuzz_inputs(fdir, name, len(harnesses) == 1)
            self.fuzzers.append((name, seeds, inputs, own_impl))
        if not self.fuzzers:
            sys.exit("mutate: no libFuzzer harness in tests/fuzz/fuzz_*.c")
        self.fuzz_via = "ninja" if all(n in known for n, _, _, _ in self.fuzzers) else "direct"
        self.fdirect = os.path.join(self.dir, "build-fuzz-direct")
        self.exes = {}

    def direct_jobs(self):
        """Objects, compile commands and links of the harnesses built as tools/fuzz.sh does:
        each harness with the other tests/fuzz/*.c files (unless it holds the implementation
        itself)."""
        fdir = os.path.join(self.src, "tests", "fuzz")
        flags = ["-g", "-O1", "-std=c11", "-pedantic", "-Wall", "-Wextra", "-Werror",
                 "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-DVMSPACE_DEBUG=1"]
        flags += os.environ.get("FUZZ_CFLAGS", "").split()
        objs, links = [], {}
        for f in self.fuzz_support:
            o = os.path.join(self.fdirect, f[:-2] + ".o")
            objs.append((o, [self.opts.fuzz_cc] + flags + [
                "-fsanitize=fuzzer-no-link,address,undefined", "-I" + self.src, "-c",
                os.path.join(fdir, f), "-o", o]))
        for name, _, _, own_impl in self.fuzzers:
            o = os.path.join(self.fdirect, name + ".o")
            objs.append((o, [self.opts.fuzz_cc] + flags + [
                "-fsanitize=fuzzer,address,undefined", "-I" + self.src, "-c",
                os.path.join(fdir, name + ".c"), "-o", o]))
            parts = [o] + ([] if own_impl else [os.path.join(self.fdirect, f[:-2] + ".o")
                                                for f in self.fuzz_support])
            links[name] = [self.opts.fuzz_cc, "-fsanitize=fuzzer,address,undefined"] + parts + [
                "-o", os.path.join(self.fdirect, name)]
        return objs, links

    def baseline_fuzz_build(self, texts, log):
        if self.fuzz_via == "ninja":
            self.env["VMSPACE_MUTATE_STORE"] = "1"
            ok, out = self.build_fuzz(log, timeout=3600)
            del self.env["VMSPACE_MUTATE_STORE"]
            if ok:
                with open(os.path.join(self.fbuild, "compile_commands.json"),
                          encoding="utf-8") as f:
                    entries = json.load(f)
                jobs = []
                for e in entries:
                    args = e.get("arguments") or shlex.split(e["command"])
                    o = e.get("output") or args[args.index("-o") + 1]
                    if "/fuzz/" in "/" + o:
                        jobs.append((os.path.normpath(os.path.join(e["directory"], o)), args,
                                     e["directory"]))
                self.units = self.scan_units(texts, jobs, log)
                return True, ""
            print("mutate: warning: CMake's fuzz targets do not build; building the harnesses "
                  "as tools/fuzz.sh does (see %s)" % log)
            self.fuzz_via = "direct"
        os.makedirs(self.fdirect, exist_ok=True)
        objs, _ = self.direct_jobs()
        self.units = self.scan_units(texts, [(o, c, self.fdirect) for o, c in objs], log)
        self.affected_now = None
        return self.build_fuzz(log, timeout=3600, store=True)

    def build_fuzz(self, log, timeout=900, store=False):
        if self.fuzz_via == "ninja":
            targets = [n for n, _, _, _ in self.fuzzers]
            rc, timed_out, out = run(["ninja", "-C", self.fbuild, "-j", str(self.opts.build_jobs)]
                                     + targets, env=self.env, timeout=timeout, log=log)
            if rc != 0 or timed_out:
                return False, out
            for n in targets:
                found = [os.path.join(d, n) for d, _, files in os.walk(self.fbuild) if n in files]
                if not found:
                    return False, "no executable %s in %s" % (n, self.fbuild)
                self.exes[n] = found[0]
            return True, ""
        objs, links = self.direct_jobs()
        pristine = os.path.join(self.fdirect, "pristine")
        os.makedirs(pristine, exist_ok=True)
        todo = []
        for o, c in objs:
            keep = os.path.join(pristine, os.path.basename(o))
            if store or self.affected_now is None or o in self.affected_now or \
                    not os.path.exists(keep):
                todo.append((o, c, keep))
            else:
                shutil.copyfile(keep, o)

        def compile_one(job):
            o, c, keep = job
            rc, timed_out, out = run(c, cwd=self.fdirect, env=self.env, timeout=timeout, log=log)
            if rc == 0 and not timed_out and store:
                shutil.copyfile(o, keep)
            return rc == 0 and not timed_out, out

        with concurrent.futures.ThreadPoolExecutor(max(1, self.opts.build_jobs)) as ex:
            for ok, out in ex.map(compile_one, todo):
                if not ok:
                    return False, out
        for name, c in links.items():
            rc, timed_out, out = run(c, cwd=self.fdirect, env=self.env, timeout=timeout, log=log)
            if rc != 0 or timed_out:
                return False, out
            self.exes[name] = c[-1]
        return True, ""

    def mark_affected_fuzz(self, m):
        if self.fuzz_via == "ninja":
            self.mark_affected(m)
        else:
            self.affected_now = set(self.affected(m))

    def replay(self, name, inputs, log):
        if not inputs:
            return 0, False, ""
        return run([self.exes[name], "-runs=1"] + inputs, cwd=self.tmp, env=self.env,
                   timeout=max(120, self.opts.fuzz_time * 2), log=log)

    def baseline_fuzz(self, log):
        for name, _, inputs, _ in self.fuzzers:
            rc, timed_out, out = self.replay(name, inputs, log)
            if rc != 0 or timed_out or FUZZ_PROBLEM.search(out):
                sys.exit("mutate: %s fails its committed inputs on the unmutated tree:\n%s"
                         % (name, out[-3000:]))

    def run_fuzz(self, m, log):
        for name, _, inputs, _ in self.fuzzers:
            rc, timed_out, out = self.replay(name, inputs, log)
            if timed_out or rc != 0 or FUZZ_PROBLEM.search(out):
                return ("timeout" if timed_out or "libFuzzer: timeout" in out else "killed",
                        name + " (replay)")
        for name, seeds, _, _ in self.fuzzers:
            corpus = os.path.join(self.tmp, "corpus-" + name)
            art = os.path.join(self.tmp, "artifacts-" + name)
            for d in (corpus, art):
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
            cmd = [self.exes[name], "-seed=1", "-max_total_time=%d" % self.opts.fuzz_time,
                   "-max_len=1024", "-timeout=%d" % self.opts.test_timeout, "-rss_limit_mb=2048",
                   "-print_final_stats=1", "-artifact_prefix=" + art + "/", corpus] + seeds
            rc, timed_out, out = run(cmd, cwd=self.tmp, env=self.env,
                                     timeout=self.opts.fuzz_time + 120, log=log)
            if timed_out or rc != 0 or FUZZ_PROBLEM.search(out):
                status = "timeout" if timed_out or "libFuzzer: timeout" in out else "killed"
                return status, name + " (fuzzing)"
        return "survived", ""


FUZZ_PROBLEM = re.compile(r"ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error|"
                          r"fuzz_\w+: mismatch")


def fuzz_inputs(fdir, name, only_harness):
    """(seed directories, committed input files) of a fuzz target: its own corpus and
    regressions directories if it has them (corpus_NAME, NAME_corpus, NAME/corpus,
    corpus/NAME, and - spellings; the same for regressions), else the shared corpus/ and
    regressions/ for fuzz_vmspace or a lone harness, else none (fuzzing starts empty)."""
    short = name[len("fuzz_"):]

    def find(kind):
        for c in (kind + "_" + short, kind + "-" + short, short + "_" + kind,
                  short + "-" + kind, os.path.join(short, kind), os.path.join(kind, short)):
            if os.path.isdir(os.path.join(fdir, c)):
                return [os.path.join(fdir, c)]
        if name == "fuzz_vmspace" or only_harness:
            if os.path.isdir(os.path.join(fdir, kind)):
                return [os.path.join(fdir, kind)]
        return []

    seeds, regs = find("corpus"), find("regressions")
    inputs = []
    for d in seeds + regs:
        inputs += sorted(os.path.join(d, f) for f in os.listdir(d)
                         if os.path.isfile(os.path.join(d, f)))
    return seeds, inputs


# ---------------------------------------------------------------------------------------------
# Main.


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="tools/mutate.sh", add_help=True,
                                 description="Mutation testing of vmspace.h and vmspace_owner.h.")
    ap.add_argument("--snapshot", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--scratch", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--root", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true", help="print the mutants with their ids")
    ap.add_argument("--fuzz", action="store_true", help="kill with the fuzz targets alone")
    ap.add_argument("--fuzz-time", type=int, default=60, metavar="S",
                    help="seconds of fuzzing per target and mutant (default 60)")
    ap.add_argument("--count", type=int, default=200, metavar="N",
                    help="run until N mutants compiled (default 200)")
    ap.add_argument("--all", action="store_true", help="every mutant, not a sample")
    ap.add_argument("--seed", default="1", metavar="S", help="sample seed (default 1)")
    ap.add_argument("--file", action="append", choices=HEADERS, help="only this header")
    ap.add_argument("--op", action="append", choices=sorted(OPERATORS), help="only this operator")
    ap.add_argument("--sanitize", metavar="LIST",
                    help="build the unit suite with these sanitizers, e.g. address;undefined")
    ap.add_argument("--id", action="append", metavar="ID", help="only this mutant (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                    help="mutants run at once, each in its own copy (default 1)")
    ap.add_argument("--build-jobs", type=int, default=2, metavar="N",
                    help="ninja -j for each rebuild (default 2)")
    ap.add_argument("--test-timeout", type=int, default=10, metavar="S",
                    help="Criterion per-test timeout; libFuzzer per-input timeout (default 10)")
    ap.add_argument("--exe-timeout", type=int, default=30, metavar="S",
                    help="least time for one test executable (default 30; at least 5x its "
                         "unmutated time)")
    ap.add_argument("--out", metavar="DIR", help="results directory (default build-mutate/ in "
                                                 "the work tree, ignored by git)")
    ap.add_argument("--equivalent", metavar="FILE",
                    help="equivalent-mutant list (default tests/mutate-equivalent.txt)")
    opts = ap.parse_args(argv)
    opts.cc = os.environ.get("CC", "cc")
    opts.fuzz_cc = os.environ.get("FUZZ_CC", "clang")
    opts.cache = os.path.join(opts.scratch, "cache")
    opts.lock = threading.Lock()
    if opts.out is None:
        opts.out = os.path.join(opts.root, "build-mutate")
    # Absolute: the compiler wrapper writes the per-mutant logs from the build directory.
    opts.out = os.path.abspath(opts.out)
    if opts.equivalent is None:
        opts.equivalent = os.path.join(opts.root, "tests", "mutate-equivalent.txt")
    return opts


def main(argv):
    opts = parse_args(argv)
    texts = {}
    for name in HEADERS:
        p = os.path.join(opts.snapshot, name)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                texts[name] = f.read()
    defines = ["VMSPACE_DEBUG=1", "VMSPACE_TEST_HAVE_OWNER=1"]
    muts = generate(texts, opts.cc, defines)
    by_id = {m.id: m for m in muts}
    counts = {}
    for m in muts:
        counts[m.file] = counts.get(m.file, 0) + 1
    gen_line = "generated %d mutants (%s)" % (
        len(muts), ", ".join("%s %d" % (f, c) for f, c in sorted(counts.items())))
    equiv = load_equivalents(opts.equivalent)
    stale = sorted(i for i in equiv if i not in by_id)
    order = select(muts, opts.seed, opts.file, opts.op, opts.id)

    if opts.list:
        if not (opts.all or opts.id or opts.count != 200 or opts.file or opts.op):
            order = sorted(order, key=lambda m: (m.file, m.line, m.site, m.op))
        elif not (opts.all or opts.id):
            order = order[: opts.count]
        for m in order:
            mark = "  [equivalent]" if m.id in equiv else ""
            print("%s\t%s:%d\t%s\t%s\t=>\t%s%s" % (m.id, m.file, m.line, m.op, m.orig, m.mut, mark))
        print(gen_line, file=sys.stderr)
        return 0

    if not (opts.all or opts.id):
        limit = opts.count
    else:
        limit = len(order)

    os.makedirs(opts.out, exist_ok=True)
    logs = os.path.join(opts.out, "logs")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    mode = "fuzz" if opts.fuzz else "unit"
    print("mutate: %s; mode %s; sample: %s" % (
        gen_line, mode,
        "ids given" if opts.id else "all" if opts.all else "seed %s, until %d compiled" % (
            opts.seed, limit)))
    for i in stale:
        print("mutate: warning: %s in %s matches no mutant (stale?)"
              % (i, os.path.relpath(opts.equivalent, opts.root)))

    workers = [Worker(opts, k) for k in range(max(1, opts.jobs))]
    t0 = time.time()
    for k, w in enumerate(workers):
        w.prepare(texts)
        blog = os.path.join(logs, "baseline-w%d.log" % k)
        if mode == "unit":
            w.configure_unit(blog)
            used = os.path.join(opts.cache, "used")
            if k == 0 and os.path.exists(used):
                os.unlink(used)
            w.env["VMSPACE_MUTATE_STORE"] = "1"
            ok, out = w.build_unit(blog, timeout=3600)
            del w.env["VMSPACE_MUTATE_STORE"]
            if not ok:
                sys.exit("mutate: the unmutated tree does not build:\n" + out[-3000:])
            w.map_units(texts, blog)
            if k == 0:
                w.baseline_unit(blog)
                print("mutate: baseline %.0fs; fast suite: %s" % (
                    time.time() - t0,
                    ", ".join("%s %.1fs" % nt for nt in w.tests)))
            else:
                w.tests, w.excluded = workers[0].tests, workers[0].excluded
        else:
            w.configure_fuzz(blog)
            used = os.path.join(opts.cache, "used")
            if k == 0 and os.path.exists(used):
                os.unlink(used)
            ok, out = w.baseline_fuzz_build(texts, blog)
            if not ok:
                sys.exit("mutate: the unmutated fuzz targets do not build:\n" + out[-3000:])
            w.baseline_fuzz(blog)
            if k == 0:
                print("mutate: baseline %.0fs; fuzz targets (%s): %s; %ds of fuzzing each" % (
                    time.time() - t0,
                    "CMake" if w.fuzz_via == "ninja" else "as tools/fuzz.sh builds them",
                    ", ".join("%s (%d inputs)" % (n, len(i)) for n, _, i, _ in w.fuzzers),
                    opts.fuzz_time))
    prune_cache(opts)

    results = []
    state = {"next": 0, "compiled": 0}
    t_start = time.time()

    def work(w):
        while True:
            with opts.lock:
                if state["next"] >= len(order) or state["compiled"] >= limit:
                    return
                m = order[state["next"]]
                state["next"] += 1
                state["compiled"] += 1  # optimistic; undone below if it does not compile
                seq = state["next"]
            t1 = time.time()
            mlog = os.path.join(logs, m.id.replace("/", "_").replace(":", "_") + ".log")
            with open(mlog, "w", encoding="utf-8") as f:
                f.write("%s\n%s:%d %s\n- %s\n+ %s\n\n" % (m.id, m.file, m.line, m.op, m.orig, m.mut))
            w.put({m.file: m.apply(texts[m.file])})
            if mode == "unit":
                w.mark_affected(m)
            else:
                w.mark_affected_fuzz(m)
            w.env["VMSPACE_MUTATE_CACHE_LOG"] = mlog
            ok, _ = (w.build_unit if mode == "unit" else w.build_fuzz)(mlog)
            if not ok:
                status, killer = "nocompile", ""
            elif mode == "unit":
                status, killer = w.run_unit(m, mlog)
            else:
                status, killer = w.run_fuzz(m, mlog)
            if status == "survived" and m.id in equiv:
                status = "equivalent"
            dt = time.time() - t1
            with opts.lock:
                if status == "nocompile":
                    state["compiled"] -= 1
                results.append((seq, m, status, killer, dt))
                line = "[%d] %-10s %s:%d %s  %s  =>  %s" % (
                    state["compiled"], status, m.file, m.line, m.op, m.orig, m.mut)
                if killer:
                    line += "  (%s)" % killer
                print("%s  %.1fs" % (line, dt), flush=True)
                if status in ("killed", "timeout"):
                    os.unlink(mlog)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        w.put({})
    wall = time.time() - t_start
    results.sort(key=lambda r: r[0])
    return report(opts, mode, gen_line, results, equiv, wall, len(muts))


def prune_cache(opts):
    """Keep the objects of the last baseline builds only."""
    used_file = os.path.join(opts.cache, "used")
    if not os.path.exists(used_file):
        return
    with open(used_file) as fh:
        used = {x.strip() for x in fh if x.strip()}
    for f in os.listdir(opts.cache):
        stem = f.rsplit(".", 1)[0]
        if (f.startswith("pp-") or f.startswith("out-")) and stem not in used:
            os.unlink(os.path.join(opts.cache, f))


def report(opts, mode, gen_line, results, equiv, wall, total):
    n = {s: 0 for s in ("killed", "timeout", "survived", "equivalent", "nocompile")}
    for _, _, status, _, _ in results:
        n[status] += 1
    compiled = len(results) - n["nocompile"]
    killed = n["killed"] + n["timeout"]
    denom = compiled - n["equivalent"]
    score = 100.0 * killed / denom if denom else 0.0
    times = [dt for _, _, s, _, dt in results if s != "nocompile"]
    tsv = os.path.join(opts.out, "results.tsv" if mode == "unit" else "results-fuzz.tsv")
    with open(tsv, "w", encoding="utf-8") as f:
        f.write("id\tfile\tline\top\tfunction\tstatus\tkiller\tseconds\toriginal\tmutated\n")
        for _, m, status, killer, dt in results:
            f.write("\t".join([m.id, m.file, str(m.line), m.op, m.func, status, killer,
                               "%.1f" % dt, m.orig, m.mut]) + "\n")
    lines = []
    lines.append("== mutation summary (%s mode)" % mode)
    lines.append("   %s" % gen_line)
    lines.append("   run:             %d" % len(results))
    lines.append("   compiled:        %d" % compiled)
    lines.append("   killed:          %d (by tests %d, by timeout %d)" % (
        killed, n["killed"], n["timeout"]) if mode == "unit" else
        "   killed:          %d (by a crash or mismatch %d, by timeout %d)" % (
        killed, n["killed"], n["timeout"]))
    lines.append("   survived:        %d" % n["survived"])
    lines.append("   equivalent:      %d (listed in %s)" % (
        n["equivalent"], os.path.relpath(opts.equivalent, opts.root)))
    lines.append("   did not compile: %d" % n["nocompile"])
    lines.append("   %s:  %.1f%% = killed %d / (compiled %d - equivalent %d)" % (
        "score" if mode == "unit" else "kill rate", score, killed, compiled, n["equivalent"]))
    if times:
        lines.append("   time:            %.0fs, %.1fs per compiled mutant (mean), %.1fs max" % (
            wall, sum(times) / len(times), max(times)))
    listed_killed = [m.id for _, m, s, _, _ in results if m.id in equiv and s in
                     ("killed", "timeout")]
    for i in listed_killed:
        lines.append("   note: %s is listed as equivalent but was killed: remove it" % i)
    surv = [(m, s) for _, m, s, _, _ in results if s == "survived"]
    if surv:
        lines.append("")
        lines.append("== survivors")
        for m, _ in sorted(surv, key=lambda x: (x[0].file, x[0].line)):
            lines.append("   %s:%d  %s  [%s] in %s" % (m.file, m.line, m.op, m.id, m.func))
            lines.append("       - %s" % m.orig)
            lines.append("       + %s" % m.mut)
    lines.append("")
    lines.append("results: %s" % tsv)
    text = "\n".join(lines) + "\n"
    print()
    print(text, end="")
    with open(os.path.join(opts.out, "summary.txt" if mode == "unit" else "summary-fuzz.txt"),
              "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
