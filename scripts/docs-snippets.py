#!/usr/bin/env python3
"""Keeps the code in docs/*.md and README.md identical to code that compiles.

A fenced block preceded by a marker comment is the region of a source file between two
lines `// [name]` (or the whole file when no #name is given):

    <!-- snippet: examples/pool_tour.cpp#submit -->
    ```cpp
    ...
    ```

`docs-snippets.py --check` fails if a block differs from its source; `--fix` rewrites it.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARK = re.compile(r"<!-- snippet: ([^#\s]+)(?:#(\S+))? -->\n```(\w*)\n(.*?)```", re.S)


def region(path, name):
    text = (ROOT / path).read_text()
    if name is None:
        return text
    tag = f"// [{name}]"
    lines = text.splitlines(keepends=True)
    idx = [i for i, line in enumerate(lines) if line.strip() == tag]
    if len(idx) != 2:
        raise SystemExit(f"{path}: expected two '{tag}' lines, found {len(idx)}")
    body = lines[idx[0] + 1 : idx[1]]
    indent = min((len(l) - len(l.lstrip()) for l in body if l.strip()), default=0)
    return "".join(l[indent:] if l.strip() else "\n" for l in body)


def main():
    fix = "--fix" in sys.argv
    bad = 0
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if not md.exists():
            continue
        text = md.read_text()

        def repl(m):
            nonlocal bad
            want = region(m.group(1), m.group(2))
            if m.group(4) != want:
                bad += 1
                print(f"{md.relative_to(ROOT)}: snippet {m.group(1)}#{m.group(2) or '(whole file)'} differs from its source")
            return f"<!-- snippet: {m.group(1)}{'#' + m.group(2) if m.group(2) else ''} -->\n```{m.group(3)}\n{want}```"

        new = MARK.sub(repl, text)
        if fix and new != text:
            md.write_text(new)
    if bad and not fix:
        sys.exit(1)
    print("docs snippets: " + ("fixed" if fix and bad else "ok"))


if __name__ == "__main__":
    main()
