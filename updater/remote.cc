#include "updater/remote.h"

#include <condition_variable>
#include <mutex>
#include <chrono>
#include <deque>
#include <thread>

#include "base/strings.h"
#include "updater/glib.h"
#include "updater/signature.h"

namespace bw::update {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `op` in a worker thread with its own main context; cancels it when
// the transfer stalls. `progress_obj` may be null (then the whole operation
// gets low_speed_seconds).
Result<void> run_watched(const Config& cfg, OstreeAsyncProgress* progress_obj, const ProgressFn& progress,
                         const std::function<Result<void>(GCancellable*)>& op) {
  GPtr<GCancellable> cancel(g_cancellable_new());
  Result<void> result;
  std::mutex mu;
  std::condition_variable done_cv;
  bool finished = false;
  std::thread worker([&] {
    GMainContext* ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    result = op(cancel.get());
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    std::lock_guard lock(mu);
    finished = true;
    done_cv.notify_one();
  });
  // (time, bytes) samples over the last low_speed_seconds.
  std::deque<std::pair<Clock::time_point, uint64_t>> window;
  auto start = Clock::now();
  auto limit = std::chrono::seconds(cfg.low_speed_seconds);
  bool stalled = false;
  for (;;) {
    {
      // Wakes at once when the operation ends, else every 200 ms to sample.
      std::unique_lock lock(mu);
      if (done_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return finished; })) break;
    }
    auto now = Clock::now();
    PullProgress p;
    unsigned outstanding = 1;
    if (progress_obj) {
      p.bytes = ostree_async_progress_get_uint64(progress_obj, "bytes-transferred");
      p.fetched = ostree_async_progress_get_uint(progress_obj, "fetched");
      p.requested = ostree_async_progress_get_uint(progress_obj, "requested");
      outstanding = ostree_async_progress_get_uint(progress_obj, "outstanding-fetches") +
                    ostree_async_progress_get_uint(progress_obj, "outstanding-metadata-fetches");
      if (progress) progress(p);
    }
    // Only time spent waiting on the network counts towards a stall.
    if (outstanding == 0) {
      window.clear();
      continue;
    }
    window.emplace_back(now, p.bytes);
    while (!window.empty() && now - window.front().first > limit) window.pop_front();
    bool long_enough = now - start >= limit && !window.empty() && now - window.front().first >= limit * 9 / 10;
    if (long_enough && p.bytes - window.front().second <
                           static_cast<uint64_t>(cfg.low_speed_bytes) * static_cast<uint64_t>(cfg.low_speed_seconds)) {
      stalled = true;
      g_cancellable_cancel(cancel.get());
      break;
    }
  }
  worker.join();
  if (stalled && !result)
    return make_error(0,
                      "the update server stopped answering: less than %d bytes/s for %d s (objects fetched so "
                      "far are kept; the next upgrade resumes)",
                      cfg.low_speed_bytes, cfg.low_speed_seconds);
  return result;
}

}  // namespace

Result<Remote> Remote::setup(OstreeRepo* repo, const Config& cfg) {
  GErrorHolder err;
  char* url_raw = nullptr;
  bool exists = ostree_repo_remote_get_url(repo, cfg.os.c_str(), &url_raw, nullptr);
  std::string url = url_raw ? url_raw : "";
  g_free(url_raw);
  if (!exists || url != cfg.url) {
    // Signatures are checked by Bulwark (ed25519 is not in this libostree),
    // so libostree's own GPG and sign verification are off for the remote.
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{s@v}", "gpg-verify", g_variant_new_variant(g_variant_new_string("false")));
    g_variant_builder_add(&b, "{s@v}", "gpg-verify-summary", g_variant_new_variant(g_variant_new_string("false")));
    VariantPtr opts(g_variant_ref_sink(g_variant_builder_end(&b)));
    if (!ostree_repo_remote_change(repo, nullptr, OSTREE_REPO_REMOTE_CHANGE_REPLACE, cfg.os.c_str(), cfg.url.c_str(),
                                   opts.get(), nullptr, err.out()))
      return err.err("configuring remote '" + cfg.os + "' (" + cfg.url + ")");
  }
  return Remote(repo, cfg);
}

Result<std::string> Remote::resolve_ref(const TrustedKeys& keys) {
  GBytes* summary_raw = nullptr;
  GBytes* sig_raw = nullptr;
  auto fetched = run_watched(*cfg_, nullptr, nullptr, [&](GCancellable* c) -> Result<void> {
    GErrorHolder err;
    if (!ostree_repo_remote_fetch_summary(repo_, name_.c_str(), &summary_raw, &sig_raw, c, err.out()))
      return err.err("fetching the summary of " + cfg_->url);
    return {};
  });
  BytesPtr summary(summary_raw), sig(sig_raw);
  BW_RETURN_IF_ERROR(fetched);
  if (!summary)
    return make_error(0, "%s has no summary file (publish the repository with `bulwark-update publish`)",
                      cfg_->url.c_str());
  if (sig) BW_RETURN_IF_ERROR(verify_summary(summary.get(), sig.get(), keys));
  VariantPtr v(g_variant_ref_sink(
      g_variant_new_from_bytes(G_VARIANT_TYPE("(a(s(taya{sv}))a{sv})"), summary.get(), FALSE)));
  if (!g_variant_is_normal_form(v.get())) return make_error(0, "the summary of %s is malformed", cfg_->url.c_str());
  VariantPtr refs(g_variant_get_child_value(v.get(), 0));
  for (gsize i = 0; i < g_variant_n_children(refs.get()); ++i) {
    VariantPtr entry(g_variant_get_child_value(refs.get(), i));
    const char* name = nullptr;
    VariantPtr data(g_variant_get_child_value(entry.get(), 1));
    VariantPtr name_v(g_variant_get_child_value(entry.get(), 0));
    name = g_variant_get_string(name_v.get(), nullptr);
    if (cfg_->ref != name) continue;
    VariantPtr csum(g_variant_get_child_value(data.get(), 1));
    if (g_variant_n_children(csum.get()) != 32)
      return make_error(0, "the summary of %s has a malformed checksum for %s", cfg_->url.c_str(), name);
    std::unique_ptr<char, decltype(&g_free)> hex(ostree_checksum_from_bytes_v(csum.get()), g_free);
    return std::string(hex.get());
  }
  return make_error(0, "%s does not publish ref %s", cfg_->url.c_str(), cfg_->ref.c_str());
}

Result<void> Remote::pull_impl(const std::string& checksum, bool commit_only, const ProgressFn& progress) {
  GPtr<OstreeAsyncProgress> prog(ostree_async_progress_new());
  return run_watched(*cfg_, prog.get(), progress, [&](GCancellable* c) -> Result<void> {
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    const char* refs[] = {checksum.c_str(), nullptr};
    g_variant_builder_add(&b, "{s@v}", "refs", g_variant_new_variant(g_variant_new_strv(refs, -1)));
    int flags = commit_only ? OSTREE_REPO_PULL_FLAGS_COMMIT_ONLY : OSTREE_REPO_PULL_FLAGS_NONE;
    g_variant_builder_add(&b, "{s@v}", "flags", g_variant_new_variant(g_variant_new_int32(flags)));
    VariantPtr opts(g_variant_ref_sink(g_variant_builder_end(&b)));
    GErrorHolder err;
    if (!ostree_repo_pull_with_options(repo_, name_.c_str(), opts.get(), prog.get(), c,
                                       err.out()))
      return err.err(strf("pulling %s%s from %s", commit_only ? "commit " : "", checksum.c_str(), cfg_->url.c_str()));
    return {};
  });
}

Result<void> Remote::pull_commit_only(const std::string& checksum) { return pull_impl(checksum, true, nullptr); }

Result<void> Remote::pull(const std::string& checksum, const ProgressFn& progress) {
  return pull_impl(checksum, false, progress);
}

}  // namespace bw::update
