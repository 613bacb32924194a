#!/usr/bin/env bash
# Checks that sockloop's modules point one way.
#
# Builds the module dependency graph from the paths in src/ (`use
# crate::...`, inline `crate::...`, and `super::...` inside a module), with
# the top-level modules and the submodules of those that are directories
# (protocol/, server/, load/, serve/) as nodes, and fails (exit status 1, naming what is wrong) when
#   - two or more top-level modules depend on each other (a cycle), or
#   - protocol/ uses anything but itself and the modules below it
#     (BELOW_PROTOCOL): the sans-IO services know nothing above them.
# Comments are ignored (a doc link is not a dependency); test code counts.
#
# Usage: scripts/check-cycles.sh [-v] [SRC_DIR]   (-v: print the graph)
set -euo pipefail
verbose=0
if [[ "${1:-}" == "-v" ]]; then
    verbose=1
    shift
fi
src="${1:-$(dirname "$0")/../src}"
VERBOSE="$verbose" python3 - "$src" <<'PY'
import os, re, sys

SRC = sys.argv[1]
VERBOSE = os.environ.get("VERBOSE") == "1"
# The modules whose submodules are nodes of their own: the directories.
SPLIT = {d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d))}
# What protocol/ may use besides itself: line framing, nothing else.
BELOW_PROTOCOL = {"framing"}


def module_of(path):
    """The module path (list of names) a source file defines."""
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)  # drop ".rs"
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def node_of(parts):
    """The graph node of a module path: a top-level module, or one level
    deeper inside the SPLIT modules."""
    if not parts:
        return None
    if parts[0] in SPLIT and len(parts) > 1:
        return parts[0] + "::" + parts[1]
    return parts[0]


def top(node):
    return node.split("::")[0]


files = []
for root, _, names in os.walk(SRC):
    files += [os.path.join(root, n) for n in names if n.endswith(".rs")]
modules = {tuple(module_of(f)) for f in files if module_of(f) not in (["lib"], ["main"])}


def resolve(parts):
    """The longest prefix of `parts` that is a module (the rest are items)."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return parts[:n]
    return None


def strip_comments(text):
    # Line comments (and doc comments) only; block comments are not used.
    return "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())


def expand(path):
    """`a::{b, c::d}` -> ["a::b", "a::c::d"] (nested groups included)."""
    m = re.match(r"^(.*?)\{(.*)\}$", path)
    if not m:
        return [path]
    head, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    return [p for item in items if item.strip() for p in expand(head + item.strip())]


edges = {}  # (from node, to node) -> first file that shows it
for f in sorted(files):
    me = module_of(f)
    if me in (["lib"], ["main"]):
        continue
    text = strip_comments(open(f, encoding="utf-8").read())
    paths = []
    for use in re.findall(r"\buse\s+([^;]+);", text, re.S):
        paths += expand(re.sub(r"\s+", "", use))
    # Inline paths (`crate::x::f()`, `super::y::T`); `use` paths repeat harmlessly.
    paths += re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
    for p in paths:
        parts = p.split("::")
        if parts[0] == "crate":
            target = parts[1:]
        elif parts[0] == "super":
            # `super` from a file is its parent module; from mod.rs too, as
            # mod.rs IS the module.
            base = me[:]
            while parts and parts[0] == "super":
                base = base[:-1]
                parts = parts[1:]
            target = base + parts
        else:
            continue
        module = resolve([t for t in target if t != "self"])
        a, b = node_of(me), node_of(module) if module else None
        if b and a != b:
            edges.setdefault((a, b), os.path.relpath(f, os.path.dirname(SRC)))

failures = []

# protocol/ uses only itself and what lies below it.
for (a, b), where in sorted(edges.items()):
    if top(a) == "protocol" and top(b) != "protocol" and top(b) not in BELOW_PROTOCOL:
        failures.append(f"protocol uses a module above it: {a} -> {b} ({where})")

# Cycles between top-level modules: strongly connected components (Tarjan).
graph = {}
for (a, b) in edges:
    if top(a) != top(b):
        graph.setdefault(top(a), set()).add(top(b))
        graph.setdefault(top(b), set())
index, low, stack, on_stack, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        scc = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            scc.append(w)
            if w == v:
                break
        sccs.append(scc)


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)


def cycle_in(scc):
    """One concrete cycle through the component, for the message."""
    members = set(scc)
    start = min(scc)
    path, seen = [start], {start}

    def walk(v):
        for w in sorted(graph[v] & members):
            if w == start and len(path) > 1:
                return True
            if w not in seen:
                seen.add(w)
                path.append(w)
                if walk(w):
                    return True
                path.pop()
        return False

    walk(start)
    return path + [start]


def why(a, b):
    """A file that makes top-level module a use b."""
    return next(w for (x, y), w in sorted(edges.items()) if top(x) == a and top(y) == b)


for scc in sccs:
    if len(scc) > 1:
        cycle = cycle_in(scc)
        steps = ", ".join(f"{a} -> {b} ({why(a, b)})" for a, b in zip(cycle, cycle[1:]))
        failures.append(
            f"import cycle among {{{', '.join(sorted(scc))}}}, e.g. {' -> '.join(cycle)}: {steps}"
        )

if VERBOSE:
    for (a, b), where in sorted(edges.items()):
        print(f"{a} -> {b}    ({where})")

if failures:
    for line in failures:
        print(f"check-cycles: {line}", file=sys.stderr)
    sys.exit(1)
nodes = {n for e in edges for n in e}
print(f"check-cycles: ok: {len(nodes)} modules, {len(edges)} dependencies, no cycle between "
      f"top-level modules, protocol uses only {', '.join(sorted(BELOW_PROTOCOL))}")
PY
