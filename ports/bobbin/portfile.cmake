# An overlay port that builds bobbin from the checkout it sits in (ports/bobbin/ ->
# ../..), so it installs exactly the headers of that checkout:
#   vcpkg install bobbin --overlay-ports=<checkout>/ports
# vcpkg does not hash files outside the port when it decides whether a cached package is
# still good: after changing the checkout, `vcpkg remove bobbin` first (or raise
# "port-version" in vcpkg.json). For a registry, the source would come from a release
# instead: vcpkg_from_git(OUT_SOURCE_PATH SOURCE_PATH URL <repository> REF <commit>),
# the rest of this file unchanged.
set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../..")
if(NOT EXISTS "${SOURCE_PATH}/include/bobbin/bobbin.hpp")
  message(FATAL_ERROR "bobbin's overlay port must stay at ports/bobbin/ inside a bobbin checkout")
endif()

# Header-only: nothing differs between debug and release, so build (install) once.
set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DBOBBIN_BUILD_TESTS=OFF
    -DBOBBIN_BUILD_BENCHMARKS=OFF
    -DBOBBIN_BUILD_EXAMPLES=OFF
    -DBOBBIN_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/bobbin)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
