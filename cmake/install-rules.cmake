# Install rules: headers, the exported target, a config + version file under
# share/cmake/bobbin (header-only, so the version file is ARCH_INDEPENDENT), and bobbin.pc.
set(BOBBIN_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/bobbin")

install(DIRECTORY include/bobbin DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS bobbin EXPORT bobbinTargets)
install(EXPORT bobbinTargets NAMESPACE bobbin:: DESTINATION "${BOBBIN_CMAKE_DIR}")

configure_package_config_file(cmake/bobbin-config.cmake.in
  "${PROJECT_BINARY_DIR}/bobbin-config.cmake"
  INSTALL_DESTINATION "${BOBBIN_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/bobbin-config-version.cmake"
  COMPATIBILITY SameMajorVersion
  ARCH_INDEPENDENT)
install(FILES
  "${PROJECT_BINARY_DIR}/bobbin-config.cmake"
  "${PROJECT_BINARY_DIR}/bobbin-config-version.cmake"
  DESTINATION "${BOBBIN_CMAKE_DIR}")

configure_file(cmake/bobbin.pc.in "${PROJECT_BINARY_DIR}/bobbin.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/bobbin.pc" DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")
