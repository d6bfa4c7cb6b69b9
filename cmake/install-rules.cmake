# Install rules: headers, the exported target, a config + version file under
# share/cmake/bobbin (header-only, so the version file is ARCH_INDEPENDENT), and bobbin.pc
# under share/pkgconfig (architecture-independent, on pkg-config's default search path).
set(BOBBIN_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/bobbin" CACHE STRING
    "Where bobbin's CMake package files go, relative to the install prefix")
set(BOBBIN_PKGCONFIG_DIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
    "Where bobbin.pc goes, relative to the install prefix")
mark_as_advanced(BOBBIN_CMAKE_DIR BOBBIN_PKGCONFIG_DIR)

install(DIRECTORY include/bobbin DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS bobbin EXPORT bobbinTargets)
install(EXPORT bobbinTargets NAMESPACE bobbin:: DESTINATION "${BOBBIN_CMAKE_DIR}")

configure_package_config_file(cmake/bobbin-config.cmake.in
  "${PROJECT_BINARY_DIR}/bobbin-config.cmake"
  INSTALL_DESTINATION "${BOBBIN_CMAKE_DIR}")
# Before 1.0 a minor release may break the API (semver), so 0.x only matches its own 0.x.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_bobbin_compatibility SameMinorVersion)
else()
  set(_bobbin_compatibility SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/bobbin-config-version.cmake"
  COMPATIBILITY ${_bobbin_compatibility}
  ARCH_INDEPENDENT)
install(FILES
  "${PROJECT_BINARY_DIR}/bobbin-config.cmake"
  "${PROJECT_BINARY_DIR}/bobbin-config-version.cmake"
  DESTINATION "${BOBBIN_CMAKE_DIR}")

# bobbin.pc names absolute paths, so it is written at install time, from the prefix
# actually installed to: `cmake --install build --prefix DIR` (what Conan does) gets a
# bobbin.pc that points into DIR, not at the CMAKE_INSTALL_PREFIX of the configure step.
install(CODE "
  set(PROJECT_DESCRIPTION [==[${PROJECT_DESCRIPTION}]==])
  set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
  set(BOBBIN_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(BOBBIN_PC_INCLUDEDIR [==[${CMAKE_INSTALL_INCLUDEDIR}]==])
  if(NOT IS_ABSOLUTE \"\${BOBBIN_PC_INCLUDEDIR}\")
    set(BOBBIN_PC_INCLUDEDIR \"\\\${prefix}/\${BOBBIN_PC_INCLUDEDIR}\")
  endif()
  configure_file([==[${PROJECT_SOURCE_DIR}/cmake/bobbin.pc.in]==]
                 [==[${PROJECT_BINARY_DIR}/pkgconfig/bobbin.pc]==] @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/bobbin.pc" DESTINATION "${BOBBIN_PKGCONFIG_DIR}")
