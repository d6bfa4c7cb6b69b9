# Flags for bobbin's own tests, benchmarks and examples; never put on bobbin::bobbin.
add_library(bobbin_dev_flags INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(bobbin_dev_flags INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
  if(BOBBIN_WARNINGS_AS_ERRORS)
    target_compile_options(bobbin_dev_flags INTERFACE -Werror)
  endif()
endif()

set(BOBBIN_SANITIZE "" CACHE STRING "Sanitizers for bobbin's own targets: address,undefined or thread")
if(BOBBIN_SANITIZE)
  target_compile_options(bobbin_dev_flags INTERFACE -fsanitize=${BOBBIN_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(bobbin_dev_flags INTERFACE -fsanitize=${BOBBIN_SANITIZE})
endif()
