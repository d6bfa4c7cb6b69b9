#pragma once
// For the tests of moved-from handles (channel, port, broadcast channel, worker).

#include <stdexcept>
#include <string>

namespace bobbin_test {

// Whether call() throws the std::logic_error of a moved-from handle, naming the class.
template <class F>
bool refuses_moved_from(F&& call, const std::string& type) {
  try {
    call();
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    return what.find("moved-from") != std::string::npos && what.find(type) != std::string::npos;
  }
  return false;
}

}  // namespace bobbin_test
