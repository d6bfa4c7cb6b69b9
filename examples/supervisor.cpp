// Restarting a worker that crashed, the bobbin way of Node's cluster pattern:
//
//   cluster.on('exit', (worker, code) => { if (code !== 0) cluster.fork(); });
//
// A worker handles jobs until one it cannot handle makes it throw. The supervisor starts a
// new one (up to max_restarts times); the owner hands the rest of the jobs to it.

#include <bobbin/supervisor.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

int main() {
  // [supervise]
  using context = bobbin::worker_context<int, std::string>;
  bobbin::supervisor<int, std::string> s(
      [](context& ctx) {
        for (int job : ctx.parent_port()) {
          if (job % 7 == 0) throw std::runtime_error("job " + std::to_string(job) + " is poison");
          ctx.parent_port().post_message("job " + std::to_string(job) + " done by worker " +
                                         std::to_string(ctx.thread_id()));
        }
        return 0;  // the port closed: a clean exit, no restart
      },
      {.name = "jobs"}, {.max_restarts = 2});

  s.on_restart([](bobbin::worker<int, std::string>& fresh, const bobbin::restart_info& r) {
    std::string why = "exit code " + std::to_string(r.exit_code);
    try {
      if (r.error) std::rethrow_exception(r.error);
    } catch (const std::exception& e) {
      why = e.what();
    }
    std::printf("  restart %d: worker %llu replaces a worker that failed (%s)\n", r.restart,
                static_cast<unsigned long long>(fresh.thread_id()), why.c_str());
  });

  std::shared_ptr<bobbin::worker<int, std::string>> w = s.current();
  for (int job = 1; job <= 20 && w; ++job) {
    std::optional<std::string> reply;
    if (w->post_message(job)) reply = w->receive();
    if (reply) {
      std::printf("%s\n", reply->c_str());
    } else {
      std::printf("job %d lost: its worker exited\n", job);
      w = s.successor(w);  // the restarted worker, or nullptr once the supervisor gave up
    }
  }
  s.stop();  // no more restarts; the current worker's port closes and it exits
  std::printf("supervisor done after %d restarts, last exit code %d\n", s.restarts(), s.join());
  // [supervise]
}
