#!/usr/bin/env bash
# Packaging checks: every way a C++ user takes bobbin in, from a clean copy of the tree.
# Conan and vcpkg cannot run here (their servers are unreachable), so this checks what
# they rely on: the CMake install and its package files, the pkg-config file, outside
# projects through find_package / add_subdirectory / FetchContent / pkg-config, the Conan
# test_package against the CMake package, and that every file naming the version agrees
# with project() in CMakeLists.txt.
#
# Each check prints `PASS name` or `FAIL name` (then the end of its log); the script exits
# non-zero if any failed. Needs cmake, ninja, g++, pkg-config (installed with apt-get when
# missing) and python3.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! command -v pkg-config >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pkg-config >/dev/null
fi

# Consumers build with the warnings a strict user turns on. bobbin's headers reach them as
# system headers, so only the consumer's own code must be clean; -Wuseless-cast catches
# headers that are not (a few of bobbin's casts are there for other platforms' types).
strict="-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wold-style-cast -Wuseless-cast -Werror"
# pkg-config hands out -I (see tests/consumers/pkg-config/main.cpp): what the headers must pass as they are.
plain="-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror"
cmake_common=(-G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)

passed=0
failed=0
check() {  # check NAME COMMAND...: runs COMMAND with its output in a log, prints PASS/FAIL
  local name=$1; shift
  local log="$work/log.$((passed + failed))"
  if "$@" >"$log" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    tail -n 30 "$log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

# The tree as a fresh clone has it: the files git knows (tracked, or new and not ignored),
# none of a developer's build directories.
src="$work/src"
mkdir -p "$src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
  tar --null -T - -cf - | tar -xf - -C "$src")
[ -f "$src/CMakeLists.txt" ] || { echo "FAIL copying the tree from git ls-files"; exit 1; }

prefix="$work/prefix"
version=""

install_bobbin() {
  # Configured for the default prefix, installed elsewhere with --prefix (as Conan and
  # packagers do): the package files must follow the prefix actually installed to.
  cmake -S "$src" -B "$work/b-install" "${cmake_common[@]}" \
    -DBOBBIN_BUILD_TESTS=OFF -DBOBBIN_BUILD_BENCHMARKS=OFF -DBOBBIN_BUILD_EXAMPLES=OFF &&
    cmake --build "$work/b-install" &&
    cmake --install "$work/b-install" --prefix "$prefix" &&
    for f in include/bobbin/bobbin.hpp share/cmake/bobbin/bobbin-config.cmake \
      share/cmake/bobbin/bobbin-config-version.cmake share/cmake/bobbin/bobbinTargets.cmake \
      share/pkgconfig/bobbin.pc; do
      test -f "$prefix/$f" || { echo "missing: $prefix/$f"; return 1; }
    done
}

headers_alone() {  # each installed public header compiles on its own, as a system header
  local h
  for h in "$prefix"/include/bobbin/*.hpp; do
    echo "#include <bobbin/$(basename "$h")>" |
      g++ -std=c++20 -fsyntax-only $strict -isystem "$prefix/include" -x c++ - || { echo "in $h"; return 1; }
  done
}

versions_agree() {
  echo "CMakeLists.txt project(): $version"
  [ -n "$version" ] &&
    grep -q "set(PACKAGE_VERSION \"$version\")" "$prefix/share/cmake/bobbin/bobbin-config-version.cmake" &&
    [ "$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --modversion bobbin)" = "$version" ] &&
    python3 - "$src" "$version" <<'EOF'
import json, pathlib, re, sys
src, version = pathlib.Path(sys.argv[1]), sys.argv[2]
for manifest in ("vcpkg.json", "ports/bobbin/vcpkg.json"):
    got = json.loads((src / manifest).read_text()).get("version")
    print(f"{manifest}: {got}")
    if got != version:
        sys.exit(f"{manifest} says {got}, CMakeLists.txt says {version}")
for doc in ("README.md", "docs/install.md"):
    for m in re.finditer(r"bobbin[/-]([0-9]+\.[0-9]+\.[0-9]+)", (src / doc).read_text()):
        if m.group(1) != version:
            sys.exit(f"{doc} names {m.group(0)}, CMakeLists.txt says {version}")
port = json.loads((src / "ports/bobbin/vcpkg.json").read_text())
hosts = {d["name"] for d in port["dependencies"] if isinstance(d, dict) and d.get("host")}
if hosts != {"vcpkg-cmake", "vcpkg-cmake-config"}:
    sys.exit(f"ports/bobbin/vcpkg.json: host dependencies {hosts}")
EOF
}

# conanfile.py without Conan: stand-ins for the few names it imports, enough to load the
# recipe, run its set_version() on the real CMakeLists.txt and read its declared metadata.
conan_recipe() {
  python3 - "$src" "$version" <<'EOF'
import importlib.util, pathlib, sys, types
src, version = pathlib.Path(sys.argv[1]), sys.argv[2]

class ConanException(Exception): pass
def module(name, **attrs):
    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m
module("conan", ConanFile=object)
module("conan.errors", ConanException=ConanException, ConanInvalidConfiguration=ConanException)
module("conan.tools")
module("conan.tools.build", check_min_cppstd=None, can_run=None)
module("conan.tools.files", copy=None, load=lambda conanfile, path: pathlib.Path(path).read_text())
module("conan.tools.layout", basic_layout=None)
module("conan.tools.scm", Version=None)
module("conan.tools.cmake", CMake=None, cmake_layout=None)

def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

recipe = load(src / "conanfile.py").BobbinConan
load(src / "test_package" / "conanfile.py")
r = recipe.__new__(recipe)
r.recipe_folder, r.version = str(src), None
r.set_version()
print(f"conanfile.py: {r.name}/{r.version}, {r.package_type}, exports {r.exports_sources}")
assert r.version == version, (r.version, version)
assert r.package_type == "header-library" and r.no_copy_source and r.license == "MIT"
r.version = "99.0.0"
try:
    r.set_version()
    sys.exit("set_version() accepted a --version that differs from CMakeLists.txt")
except ConanException:
    pass
EOF
}

consumer() {  # consumer DIR BUILD_DIR PROGRAM INCLUDE_DIR [CMAKE ARGS...]: configure, build,
             # run PROGRAM, check that bobbin's INCLUDE_DIR came in as a system include
  local dir=$1 build=$2 program=$3 inc=$4; shift 4
  cmake -S "$dir" -B "$build" "${cmake_common[@]}" -DCMAKE_CXX_FLAGS="$strict" "$@" &&
    cmake --build "$build" &&
    "$build/$program" &&
    { grep -q -- "-isystem $inc" "$build/compile_commands.json" ||
      { echo "bobbin's include directory $inc is not a system include:"; cat "$build/compile_commands.json"; return 1; }; }
}

no_bobbin_targets() {  # a project that includes bobbin's tree gets none of bobbin's own targets
  local targets
  targets=$(ninja -C "$1" -t targets all | grep -E '^(test_|bench_|example_)' || true)
  [ -z "$targets" ] || { echo "bobbin's own targets were added: $targets"; return 1; }
}

pkg_config_consumer() {
  export PKG_CONFIG_PATH="$prefix/share/pkgconfig"
  local cflags
  cflags=$(pkg-config --cflags bobbin) && echo "pkg-config --cflags bobbin: $cflags" &&
    grep -q -- "-I$prefix/include" <<<"$cflags" && grep -q -- "-pthread" <<<"$cflags" &&
    g++ -std=c++20 $plain "$src/tests/consumers/pkg-config/main.cpp" -o "$work/pc-app" $(pkg-config --cflags --libs bobbin) &&
    "$work/pc-app"
}

tarball() {  # a source tarball as docs/install.md makes it (git archive), or the same files
             # when the work tree has changes not committed yet
  if [ -z "$(git -C "$root" status --porcelain)" ]; then
    git -C "$root" archive --format=tar.gz --prefix=bobbin/ -o "$work/bobbin-src.tar.gz" HEAD
  else
    echo "uncommitted changes: packing the work tree's files instead of git archive HEAD"
    tar -czf "$work/bobbin-src.tar.gz" -C "$work" --transform 's,^src,bobbin,' src
  fi
}

consumers="$src/tests/consumers"
check "cmake --install --prefix (headers, CMake package, bobbin.pc)" install_bobbin
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$work/b-install/CMakeCache.txt")
check "each installed public header compiles alone (-isystem, strict warnings)" headers_alone
check "version in one place: package files, vcpkg manifests, docs agree with project()" versions_agree
check "conanfile.py: version parsed from CMakeLists.txt, header-library" conan_recipe
check "find_package(bobbin CONFIG REQUIRED) after install" \
  consumer "$consumers/find_package" "$work/c-find" app "$prefix/include" -DCMAKE_PREFIX_PATH="$prefix"
check "Conan test_package/ against the CMake package" \
  consumer "$src/test_package" "$work/c-testpkg" test_package "$prefix/include" -DCMAKE_PREFIX_PATH="$prefix"
check "add_subdirectory(bobbin)" \
  consumer "$consumers/add_subdirectory" "$work/c-subdir" app "$src/include" -DBOBBIN_DIR="$src"
check "add_subdirectory adds none of bobbin's tests, benchmarks, examples" no_bobbin_targets "$work/c-subdir"
check "FetchContent with FETCHCONTENT_SOURCE_DIR_BOBBIN (a checkout)" \
  consumer "$consumers/fetchcontent" "$work/c-fetch-dir" app "$src/include" -DFETCHCONTENT_SOURCE_DIR_BOBBIN="$src"
check "source tarball" tarball
check "FetchContent with URL file://…tar.gz" \
  consumer "$consumers/fetchcontent" "$work/c-fetch-url" app "$work/c-fetch-url/_deps/bobbin-src/include" \
  -DBOBBIN_URL="file://$work/bobbin-src.tar.gz"
check "pkg-config --cflags --libs bobbin, and a program built with it" pkg_config_consumer

echo "packaging checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
