import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.0"


def version_from_cmake(text):
    """The VERSION of bobbin's project() call: the version lives there and only there."""
    match = re.search(r"\bproject\s*\(\s*bobbin\b[^)]*?\bVERSION\s+([0-9]+(?:\.[0-9]+)*)", text)
    if match is None:
        raise ConanException("bobbin: no VERSION in CMakeLists.txt's project(bobbin ...)")
    return match.group(1)


class BobbinConan(ConanFile):
    name = "bobbin"
    description = ("Node.js worker_threads for C++20: a work-stealing thread pool, futures, "
                   "typed channels, shared memory and atomics")
    license = "MIT"
    homepage = "https://example.invalid/bobbin"
    url = "https://example.invalid/bobbin"
    topics = ("thread-pool", "work-stealing", "futures", "channels", "worker-threads", "atomics", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    # The headers are the package: no build, so CMakeLists.txt is not needed in the cache
    # (set_version reads it from the checkout, at export time).
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True

    # The compilers bobbin is tested with; older ones lack parts of C++20 it uses.
    _min_compiler_versions = {"gcc": "12", "clang": "14"}

    def set_version(self):
        version = version_from_cmake(load(self, os.path.join(self.recipe_folder, "CMakeLists.txt")))
        if self.version is not None and str(self.version) != version:
            raise ConanException(f"bobbin: --version {self.version} differs from CMakeLists.txt's {version}")
        self.version = version

    def layout(self):
        basic_layout(self)

    def package_id(self):
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 20)
        minimum = self._min_compiler_versions.get(str(self.settings.compiler))
        if minimum is not None and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs {self.settings.compiler} {minimum} or newer (C++20)")

    def build(self):
        pass

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))

    def package_info(self):
        # The same names as bobbin's own CMake package and pkg-config file.
        self.cpp_info.set_property("cmake_file_name", "bobbin")
        self.cpp_info.set_property("cmake_target_name", "bobbin::bobbin")
        self.cpp_info.set_property("pkg_config_name", "bobbin")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ["Linux", "FreeBSD"]:
            self.cpp_info.system_libs = ["pthread"]
