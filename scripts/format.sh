#!/usr/bin/env bash
# Formats bobbin's C++ sources with clang-format 19 and the repository's .clang-format.
#   scripts/format.sh           formats in place and lists the files it changed
#   scripts/format.sh --check   changes nothing; lists the files that are not formatted and
#                               exits 1 if there are any (what CI runs)
# Files: the tracked *.hpp and *.cpp under include/, tests/ (compile_fail/ and fuzz/ too),
# bench/ and examples/. clang-format-19 is used, or clang-format if it is version 19, or
# $CLANG_FORMAT if set (it must be version 19 too: other versions format differently).
# Examples and tests are quoted in docs/*.md; after reformatting them, refresh the quotes
# with `python3 scripts/docs-snippets.py --fix`.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

is_v19() { "$1" --version 2>/dev/null | grep -Eq 'clang-format version 19\.'; }

cf=""
if [ -n "${CLANG_FORMAT:-}" ]; then
  is_v19 "$CLANG_FORMAT" || { echo "format.sh: CLANG_FORMAT=$CLANG_FORMAT is not clang-format 19" >&2; exit 2; }
  cf=$CLANG_FORMAT
else
  for c in clang-format-19 clang-format; do
    if command -v "$c" >/dev/null 2>&1 && is_v19 "$c"; then cf=$c; break; fi
  done
fi
if [ -z "$cf" ]; then
  echo "format.sh: clang-format 19 not found (neither clang-format-19 nor a clang-format whose --version is 19)." >&2
  echo "format.sh: on Debian/Ubuntu: scripts/deps.sh clang-format-19 (or apt-get install clang-format-19)" >&2
  exit 2
fi
[ -f .clang-format ] || { echo "format.sh: no .clang-format at the repository root" >&2; exit 2; }

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f")  # tracked but deleted in the work tree: skip
  done < <(git ls-files -z -- 'include/*.hpp' 'include/*.cpp' 'tests/*.hpp' 'tests/*.cpp' \
                              'bench/*.hpp' 'bench/*.cpp' 'examples/*.hpp' 'examples/*.cpp')
else  # not a git checkout (a source archive): the same directories, every such file
  while IFS= read -r -d '' f; do files+=("$f"); done \
    < <(find include tests bench examples -type f \( -name '*.hpp' -o -name '*.cpp' \) -print0 2>/dev/null | sort -z)
fi
[ ${#files[@]} -gt 0 ] || { echo "format.sh: no C++ files found" >&2; exit 2; }

# The files clang-format would change: --dry-run --Werror reports each difference as
# "FILE:LINE:COL: error: code should be clang-formatted [-Wclang-format-violations]".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
printf '%s\0' "${files[@]}" | xargs -0 "$cf" --style=file --dry-run --Werror 2>"$log" || rc=$?
mapfile -t bad < <(grep -E '^[^ ].*:[0-9]+:[0-9]+: error: code should be clang-formatted' "$log" \
                     | sed -E 's/:[0-9]+:[0-9]+: error: .*//' | sort -u)
if [ ${#bad[@]} -eq 0 ] && [ "$rc" -ne 0 ]; then  # clang-format failed for another reason
  cat "$log" >&2
  echo "format.sh: $cf failed" >&2
  exit 2
fi

if [ "$check" -eq 1 ]; then
  if [ ${#bad[@]} -eq 0 ]; then
    echo "format: ${#files[@]} files formatted ($cf)"
    exit 0
  fi
  printf 'not formatted: %s\n' "${bad[@]}"
  echo "format: ${#bad[@]} of ${#files[@]} files not formatted; run scripts/format.sh (with $cf)" >&2
  exit 1
fi

if [ ${#bad[@]} -eq 0 ]; then
  echo "format: ${#files[@]} files already formatted"
  exit 0
fi
"$cf" --style=file -i "${bad[@]}"
printf 'formatted: %s\n' "${bad[@]}"
echo "format: reformatted ${#bad[@]} of ${#files[@]} files; if examples/ or tests/ changed, run python3 scripts/docs-snippets.py --fix"
