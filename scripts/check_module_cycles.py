#!/usr/bin/env python3
"""Fails when the modules of src/ depend on each other in a cycle.

A module is a file of src/ (src/aws/mod.rs is `aws`, src/aws/dynamodb.rs is
`aws::dynamodb`). Module A depends on module B when A's code names a `crate::` path
(or a `super::` or `self::` path, resolved from A) that resolves to B (the longest
module prefix of the path), `use` groups included; comments and strings are not code. A module's dependence on its own parent or child is not an edge:
a parent holds its children, and that is not a cycle between layers.

Prints each cycle (strongly connected set of modules) with one path through it, or the
number of modules and edges when there is none. Usage: check_module_cycles.py [src]
"""
import os
import re
import sys


def modules(src):
    """module path -> file."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                continue
            if rel and rel[0] == "bin":
                continue
            out["::".join(rel)] = os.path.join(root, f)
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\*)")


def use_tree(text, i, prefix, out):
    """Parses a path or `{...}` group at text[i:] after `prefix::`; returns the end."""
    while True:
        m = re.compile(r"\s*\{").match(text, i)
        if m:
            i = m.end()
            while True:
                i = use_tree(text, i, list(prefix), out)
                m = re.compile(r"\s*(,|\})").match(text, i)
                if not m:
                    return i
                i = m.end()
                if m.group(1) == "}":
                    return i
                if re.compile(r"\s*\}").match(text, i):
                    return re.compile(r"\s*\}").match(text, i).end()
        m = IDENT.match(text, i)
        if not m:
            out.append(prefix)
            return i
        prefix = prefix + [m.group(1)]
        i = m.end()
        m = re.compile(r"\s*::").match(text, i)
        if not m:
            out.append(prefix)
            return i
        i = m.end()


def dependencies(text, module=()):
    """The paths `text` names, absolute from the crate root; `module` is its own path."""
    text = strip_comments(text)
    paths = []
    for m in re.finditer(r"\bcrate\s*::", text):
        use_tree(text, m.end(), [], paths)
    for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:super\s*::\s*)+|self\s*::)", text):
        ups = m.group(1).count("super")
        if ups > len(module):
            continue
        base = list(module[: len(module) - ups]) if ups else list(module)
        use_tree(text, m.end(), base, paths)
    return paths


def resolve(path, known):
    for n in range(len(path), 0, -1):
        name = "::".join(path[:n])
        if name in known:
            return name
    return None


def related(a, b):
    return a == b or a.startswith(b + "::") or b.startswith(a + "::")


def graph(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        with open(path) as f:
            for dep in dependencies(f.read(), tuple(m.split("::"))):
                target = resolve(dep, mods)
                if target and not related(m, target):
                    edges[m].add(target)
    return edges


def cycles(edges):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def loop_through(comp, edges):
    """One cycle through the component's first module, for the message."""
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def self_test():
    """The checker finds a cycle through a `use` group and a path in code, ignores
    comments, strings and a module's own parent, and passes a one-way tree."""
    import tempfile
    files = {
        "lib.rs": "pub mod a; pub mod b; pub mod c;",
        "a.rs": "use crate::{b::{Thing, other}, c};\n// crate::c::in_a_comment\n",
        "b/mod.rs": "pub mod inner;\nfn f() { crate::c::call(); }",
        "b/inner.rs": "use crate::b::Parent; // a child naming its parent is no cycle\nuse super::sibling::X;",
        "b/sibling.rs": "fn f() { super::super::c::g(); }",
        "c.rs": "const S: &str = \"crate::a::in_a_string\";",
    }
    with tempfile.TemporaryDirectory() as root:
        for name, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        edges = graph(root)
        assert edges == {"a": {"b", "c"}, "b": {"c"}, "b::inner": {"b::sibling"}, "b::sibling": {"c"},
                         "c": set()}, edges
        assert cycles(edges) == [], "a one-way tree"
        with open(os.path.join(root, "c.rs"), "w") as f:
            f.write("use crate::a::Thing;")
        found = cycles(graph(root))
        assert found == [["a", "b", "c"]], found
        assert loop_through(found[0], graph(root)) == ["a", "c", "a"]
    print("the checker finds cycles and passes a one-way tree")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    edges = graph(src)
    found = cycles(edges)
    if not found:
        print(f"no module cycle: {len(edges)} modules, {sum(map(len, edges.values()))} dependencies")
        return 0
    for comp in found:
        print(f"module cycle among {', '.join(comp)}: {' -> '.join(loop_through(comp, edges))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
