#!/usr/bin/env python3
"""Reads every `use crate::…`/`use super::…` line and every inline `crate::…` path in
crates/ringtrace/src and checks that the files' imports form no circle and never run
from a lower layer to a higher one.

Usage: python3 scripts/check-layers.py [--graph]

Layers are listed in LAYERS below, lowest first; a file may import from its own
layer's lower files and from any lower layer. Comments (and so doc links) are
ignored: a doc link to a higher layer is documentation, not a dependency.
Exit status 0 when the structure holds, 1 with the offending imports listed.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "ringtrace", "src")

# Lowest first. Each entry is a top-level module of the crate (a file or a folder).
LAYERS = [
    ["sync", "platform", "clock", "level"],
    ["diag"],
    ["wire"],
    ["callsite"],
    ["config"],
    ["output"],
    ["backpressure"],
    ["rings"],
    ["shared"],
    ["recording"],
    ["drain"],
    ["flight"],
    ["runtime"],
    ["macros", "loom_api", "lib"],
]


def strip(src):
    """Removes comments and string/char literals (roughly, enough for paths)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', src[i:i + 10]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i + 4]) or (c == "'" and re.match(r"'\\u\{[0-9a-fA-F]+\}'", src[i:i + 12])):
            j = src.find("'", i + 2 if src[i + 1] != "\\" else i + 3)
            out.append("' '")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def expand(prefix, tree):
    """Expands a use tree `a::{b, c::{d}}` into full paths."""
    tree = tree.strip()
    paths, depth, cur = [], 0, ""
    if "{" not in tree:
        return [prefix + [p for p in tree.split("::") if p]]
    head, _, rest = tree.partition("{")
    base = prefix + [p for p in head.split("::") if p]
    body = rest[: rest.rfind("}")]
    for ch in body + ",":
        if ch == "," and depth == 0:
            if cur.strip():
                paths += expand(base, cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    return paths


def main():
    files = {}
    for d, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs"):
                p = os.path.join(d, name)
                files[tuple(module_of(p))] = p
    modules = set(files)

    def resolve(path):
        path = [p.split(" as ")[0].strip() for p in path]
        for k in range(len(path), 0, -1):
            if tuple(path[:k]) in modules:
                return tuple(path[:k])
        return ("lib",) if path else None

    edges = {}
    for mod, p in files.items():
        src = strip(open(p, encoding="utf-8").read())
        here = list(mod) if not p.endswith("mod.rs") and mod != ("lib",) else list(mod)
        parent = list(mod[:-1])
        targets = set()
        # Inline modules (`mod tests { … }`): inside one, `super` is the file's own module.
        inline = []
        for m in re.finditer(r"\bmod\s+\w+\s*\{", src):
            depth, i = 1, m.end()
            while i < len(src) and depth:
                depth += src[i] == "{"
                depth -= src[i] == "}"
                i += 1
            inline.append((m.end(), i))

        def sup(at):
            return here if any(a <= at < b for a, b in inline) else parent

        for m in re.finditer(r"\buse\s+(crate|super|self)::([^;]*);", src):
            base = [] if m.group(1) == "crate" else (sup(m.start()) if m.group(1) == "super" else here)
            for path in expand(base, m.group(2)):
                targets.add(resolve(path))
        # `use child::…` in a mod.rs (or lib.rs): a path relative to the module itself.
        for m in re.finditer(r"\buse\s+(\w+)::([^;]*);", src):
            if m.group(1) not in ("crate", "super", "self", "std", "core", "alloc") and tuple(here + [m.group(1)]) in modules:
                for path in expand(here + [m.group(1)], m.group(2)):
                    targets.add(resolve(path))
        for m in re.finditer(r"(?<![\w:])crate((?:::\w+)+)", src):
            targets.add(resolve(m.group(1).split("::")[1:]))
        for m in re.finditer(r"(?<![\w:])super((?:::\w+)+)", src):
            targets.add(resolve(sup(m.start()) + m.group(1).split("::")[1:]))
        targets.discard(None)
        targets.discard(mod)
        # A module's own children are part of it (mod.rs declaring them).
        edges[mod] = {t for t in targets if t != ("lib",) or mod == ("lib",)}

    rank = {}
    for r, layer in enumerate(LAYERS):
        for name in layer:
            rank[name] = r
    bad = []
    for mod, ts in sorted(edges.items()):
        for t in sorted(ts):
            a, b = rank.get(mod[0]), rank.get(t[0])
            if a is None or b is None:
                bad.append(f"{'::'.join(mod)} -> {'::'.join(t)}: a top-level module missing from LAYERS")
            elif b > a:
                bad.append(f"{'::'.join(mod)} -> {'::'.join(t)}: upward ({mod[0]} is below {t[0]})")

    # Circles between files (Tarjan). A folder's mod.rs re-exporting its children is
    # not a circle when the children do not import the mod.rs back.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    for comp in sccs:
        bad.append("circle: " + " <-> ".join("::".join(c) for c in comp))
    if "--graph" in sys.argv:
        for mod, ts in sorted(edges.items()):
            print("::".join(mod), "->", ", ".join(sorted("::".join(t) for t in ts)))
    top = [n for n in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, n))]
    print(f"{len(files)} files, {sum(len(t) for t in edges.values())} imports between them, "
          f"{len(top)} files at the top level of src/")
    if len(top) > 12:
        bad.append(f"{len(top)} files at the top level of src/ (at most 12)")
    for b in bad:
        print("  " + b)
    print("layers: OK" if not bad else f"layers: {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
