#include "updater/remote.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>

#include "base/child.h"
#include "base/file.h"
#include "base/strings.h"
#include "updater/glib.h"
#include "updater/publish.h"
#include "updater/signature.h"

namespace bw::update {
namespace {

using Clock = std::chrono::steady_clock;

// Reads what is available without blocking; false at end of file.
bool drain(int fd, std::string* into) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      into->append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n != 0;  // EAGAIN: open, nothing more now
  }
}

// The worker's last error line, without the program-name prefix.
std::string worker_error(const std::string& err) {
  std::string_view t = trim(err);
  auto nl = t.find_last_of('\n');
  std::string_view last = nl == std::string_view::npos ? t : t.substr(nl + 1);
  const std::string_view prefix = "bulwark-update: ";
  if (last.starts_with(prefix)) last.remove_prefix(prefix.size());
  return std::string(last);
}

// libostree's words for a damaged object, which do not say so plainly.
std::string explain(const std::string& message) {
  static const char* damaged[] = {"Need more input", "Corrupted", "checksum expected", "Invalid object",
                                  "incorrect header check", "truncated"};
  for (const char* d : damaged)
    if (message.find(d) != std::string::npos)
      return message + " (the server sent a truncated or corrupted object; nothing was deployed, and the "
                       "next upgrade fetches it again)";
  return message;
}

}  // namespace

Result<Remote> Remote::setup(OstreeRepo* repo, const std::string& repo_path, const Config& cfg) {
  GErrorHolder err;
  char* url_raw = nullptr;
  bool exists = ostree_repo_remote_get_url(repo, cfg.os.c_str(), &url_raw, nullptr);
  std::string url = url_raw ? url_raw : "";
  g_free(url_raw);
  if (!exists || url != cfg.url) {
    // Signatures are checked by Bulwark (ed25519 is not in this libostree),
    // so libostree's own GPG verification is off for the remote.
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{s@v}", "gpg-verify", g_variant_new_variant(g_variant_new_string("false")));
    g_variant_builder_add(&b, "{s@v}", "gpg-verify-summary", g_variant_new_variant(g_variant_new_string("false")));
    VariantPtr opts(g_variant_ref_sink(g_variant_builder_end(&b)));
    if (!ostree_repo_remote_change(repo, nullptr, OSTREE_REPO_REMOTE_CHANGE_REPLACE, cfg.os.c_str(), cfg.url.c_str(),
                                   opts.get(), nullptr, err.out()))
      return err.err("configuring remote '" + cfg.os + "' (" + cfg.url + ")");
  }
  return Remote(repo_path, cfg);
}

Result<void> Remote::run_worker(const std::vector<std::string>& args, const ProgressFn& progress) {
  int progress_pipe[2], err_pipe[2];
  if (pipe2(progress_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return sys_error("pipe2");
  UniqueFd progress_r(progress_pipe[0]), progress_w(progress_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return sys_error("pipe2");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
  // Everything the child needs is built before fork: it only dup2()s and execs.
  std::vector<std::string> argv_s = {"bulwark-update", "fetch-worker", "--repo", repo_path_, "--remote", name_};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  BW_ASSIGN_OR_RETURN(auto child, fork_child());
  if (!child.valid()) {
    // Only fds 2 and 3 cross the exec; everything else is close-on-exec.
    if (dup2(progress_w.get(), 3) < 0 || dup2(err_w.get(), 2) < 0) _exit(127);
    // dup2 onto itself (the pipe already was fd 3) keeps close-on-exec: clear it.
    fcntl(3, F_SETFD, 0);
    int fl = fcntl(3, F_GETFL);
    fcntl(3, F_SETFL, fl & ~O_NONBLOCK);
    fl = fcntl(2, F_GETFL);
    fcntl(2, F_SETFL, fl & ~O_NONBLOCK);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  progress_w.reset();
  err_w.reset();

  std::string progress_buf, err_buf;
  PullProgress p;
  p.outstanding = 1;  // until the worker says otherwise, it is waiting on the network
  std::deque<std::pair<Clock::time_point, uint64_t>> window;
  auto start = Clock::now();
  auto limit = std::chrono::seconds(cfg_->low_speed_seconds);
  const uint64_t need = static_cast<uint64_t>(cfg_->low_speed_bytes) * static_cast<uint64_t>(cfg_->low_speed_seconds);
  bool progress_open = true, err_open = true;
  for (;;) {
    // A pipe at end of file leaves the set (poll ignores a negative fd);
    // otherwise its hang-up would wake poll at once, over and over.
    struct pollfd fds[3] = {{child.pidfd(), POLLIN, 0},
                            {progress_open ? progress_r.get() : -1, POLLIN, 0},
                            {err_open ? err_r.get() : -1, POLLIN, 0}};
    int n = poll(fds, 3, 200);
    if (n < 0 && errno != EINTR) return sys_error("poll");
    if (progress_open) progress_open = drain(progress_r.get(), &progress_buf);
    if (err_open) err_open = drain(err_r.get(), &err_buf);
    for (size_t nl; (nl = progress_buf.find('\n')) != std::string::npos; progress_buf.erase(0, nl + 1)) {
      unsigned long long b = 0;
      unsigned f = 0, r = 0, o = 0;
      if (sscanf(progress_buf.c_str(), "%llu %u %u %u", &b, &f, &r, &o) == 4) {
        p = {b, f, r, o};
        if (progress) progress(p);
      }
    }
    ExitStatus st;
    BW_ASSIGN_OR_RETURN(bool done, child.wait_for(0, &st));
    if (done) {
      (void)drain(err_r.get(), &err_buf);
      if (st.signaled || st.code != 0) {
        std::string msg = worker_error(err_buf);
        if (msg.empty()) msg = st.signaled ? strf("the fetch worker was killed by signal %d", st.code)
                                           : strf("the fetch worker exited with status %d", st.code);
        return make_error(0, "%s", explain(msg).c_str());
      }
      return {};
    }
    // Only time spent waiting on the network counts towards a stall.
    auto now = Clock::now();
    if (p.outstanding == 0) {
      window.clear();
      continue;
    }
    window.emplace_back(now, p.bytes);
    while (!window.empty() && now - window.front().first > limit) window.pop_front();
    bool long_enough = now - start >= limit && now - window.front().first >= limit * 9 / 10;
    if (long_enough && p.bytes - window.front().second < need) {
      (void)child.signal(SIGKILL);
      (void)child.wait();
      return make_error(0,
                        "the update server stopped answering: less than %d bytes/s for %d s (objects fetched so far "
                        "are kept; the next upgrade resumes)",
                        cfg_->low_speed_bytes, cfg_->low_speed_seconds);
    }
  }
}

Result<std::string> Remote::resolve_ref(const TrustedKeys& keys) {
  char tmpl[] = "/tmp/bulwark-update-summary-XXXXXX";
  if (!mkdtemp(tmpl)) return sys_error("mkdtemp");
  std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)remove_tree_at(AT_FDCWD, dir); }
  } cleanup{dir};
  BW_RETURN_IF_ERROR(
      with_context(run_worker({"--summary", dir}, nullptr), "fetching the summary of " + cfg_->url));
  auto summary_text = read_file(dir + "/summary");
  if (!summary_text)
    return make_error(0, "%s has no summary file (publish the repository with `bulwark-update publish`)",
                      cfg_->url.c_str());
  BytesPtr summary(g_bytes_new(summary_text->data(), summary_text->size()));
  auto sig_text = read_file(dir + "/summary.sig");
  if (sig_text) {
    BytesPtr sig(g_bytes_new(sig_text->data(), sig_text->size()));
    BW_RETURN_IF_ERROR(verify_summary(summary.get(), sig.get(), keys));
  }
  VariantPtr v(g_variant_ref_sink(
      g_variant_new_from_bytes(G_VARIANT_TYPE("(a(s(taya{sv}))a{sv})"), summary.get(), FALSE)));
  if (!g_variant_is_normal_form(v.get())) return make_error(0, "the summary of %s is malformed", cfg_->url.c_str());
  VariantPtr refs(g_variant_get_child_value(v.get(), 0));
  for (gsize i = 0; i < g_variant_n_children(refs.get()); ++i) {
    VariantPtr entry(g_variant_get_child_value(refs.get(), i));
    VariantPtr name_v(g_variant_get_child_value(entry.get(), 0));
    const char* name = g_variant_get_string(name_v.get(), nullptr);
    if (cfg_->ref != name) continue;
    VariantPtr data(g_variant_get_child_value(entry.get(), 1));
    VariantPtr csum(g_variant_get_child_value(data.get(), 1));
    if (g_variant_n_children(csum.get()) != 32)
      return make_error(0, "the summary of %s has a malformed checksum for %s", cfg_->url.c_str(), name);
    std::unique_ptr<char, decltype(&g_free)> hex(ostree_checksum_from_bytes_v(csum.get()), g_free);
    return std::string(hex.get());
  }
  return make_error(0, "%s does not publish ref %s", cfg_->url.c_str(), cfg_->ref.c_str());
}

Result<void> Remote::pull_commit_only(const std::string& checksum) {
  return with_context(run_worker({"--commit-only", checksum}, nullptr),
                      "pulling commit " + checksum + " from " + cfg_->url);
}

Result<void> Remote::pull(const std::string& checksum, const ProgressFn& progress) {
  return with_context(run_worker({"--pull", checksum}, progress), "pulling " + checksum + " from " + cfg_->url);
}

// ---- the worker process ----

namespace {

struct WorkerArgs {
  std::string repo, remote, mode, value;
};

void report_progress(OstreeAsyncProgress* p, gpointer) {
  unsigned long long bytes = ostree_async_progress_get_uint64(p, "bytes-transferred");
  unsigned fetched = ostree_async_progress_get_uint(p, "fetched");
  unsigned requested = ostree_async_progress_get_uint(p, "requested");
  unsigned outstanding = ostree_async_progress_get_uint(p, "outstanding-fetches") +
                         ostree_async_progress_get_uint(p, "outstanding-metadata-fetches");
  dprintf(3, "%llu %u %u %u\n", bytes, fetched, requested, outstanding);
}

Result<void> worker(const WorkerArgs& a) {
  BW_ASSIGN_OR_RETURN(auto repo, open_repo(a.repo));
  GErrorHolder err;
  if (a.mode == "--summary") {
    GBytes* summary_raw = nullptr;
    GBytes* sig_raw = nullptr;
    if (!ostree_repo_remote_fetch_summary(repo.get(), a.remote.c_str(), &summary_raw, &sig_raw, nullptr, err.out()))
      return err.err("fetching the summary");
    BytesPtr summary(summary_raw), sig(sig_raw);
    auto write = [&](GBytes* b, const char* name) -> Result<void> {
      gsize n = 0;
      const auto* d = static_cast<const char*>(g_bytes_get_data(b, &n));
      return write_file_atomic(a.value + "/" + name, std::string_view(d ? d : "", n), 0644, Durability::volatile_);
    };
    if (summary) BW_RETURN_IF_ERROR(write(summary.get(), "summary"));
    if (sig) BW_RETURN_IF_ERROR(write(sig.get(), "summary.sig"));
    return {};
  }
  GPtr<OstreeAsyncProgress> progress(ostree_async_progress_new_and_connect(report_progress, nullptr));
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  const char* refs[] = {a.value.c_str(), nullptr};
  g_variant_builder_add(&b, "{s@v}", "refs", g_variant_new_variant(g_variant_new_strv(refs, -1)));
  int flags = a.mode == "--commit-only" ? OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY : OSTREE_REPO_PULL_FLAGS_NONE;
  g_variant_builder_add(&b, "{s@v}", "flags", g_variant_new_variant(g_variant_new_int32(flags)));
  VariantPtr opts(g_variant_ref_sink(g_variant_builder_end(&b)));
  bool ok = ostree_repo_pull_with_options(repo.get(), a.remote.c_str(), opts.get(), progress.get(), nullptr, err.out());
  ostree_async_progress_finish(progress.get());
  if (!ok) return err.err("pull");
  return {};
}

}  // namespace

int fetch_worker_main(const std::vector<std::string>& args) {
  WorkerArgs a;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--repo") a.repo = args[i + 1];
    else if (args[i] == "--remote") a.remote = args[i + 1];
    else if (args[i] == "--summary" || args[i] == "--commit-only" || args[i] == "--pull") {
      a.mode = args[i];
      a.value = args[i + 1];
    }
  }
  if (a.repo.empty() || a.remote.empty() || a.mode.empty() || fcntl(3, F_GETFD) < 0) {
    fprintf(stderr, "bulwark-update: fetch-worker is started by bulwark-update itself\n");
    return 2;
  }
  // Dies with the agent: an orphaned pull must not keep writing into the repository.
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;  // the agent is already gone
  auto r = worker(a);
  if (!r) {
    fprintf(stderr, "bulwark-update: %s\n", r.error().text().c_str());
    return 1;
  }
  return 0;
}

}  // namespace bw::update
