#include "updater/agent.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>

#include "base/file.h"
#include "base/log.h"
#include "base/strings.h"
#include "updater/grubenv.h"
#include "updater/metrics.h"
#include "updater/signature.h"
#include "updater/state_file.h"

namespace bw::update {
namespace {

int64_t now_s() { return static_cast<int64_t>(::time(nullptr)); }

std::string describe(const CommitInfo& c) {
  return strf("%s (sequence %llu, commit %.12s)", c.version.empty() ? "(no version)" : c.version.c_str(),
              static_cast<unsigned long long>(c.sequence), c.checksum.c_str());
}

bool dir_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string current_boot_id() {
  auto id = read_file("/proc/sys/kernel/random/boot_id");
  return id ? std::string(trim(*id)) : "";
}

VerdictAction decide_verdict(bool good, const std::string& booted, const std::string& default_,
                             const std::string& trial, bool deployed_this_boot) {
  if (trial.empty() || deployed_this_boot) return good ? VerdictAction::confirmed : VerdictAction::nothing;
  if (booted == trial) return good ? VerdictAction::confirmed : VerdictAction::rolled_back;
  // The trial deployment is still the default but another one booted: GRUB
  // ran out of attempts (the new version hung, panicked or never reached its
  // verdict) and fell back.
  if (default_ == trial) return VerdictAction::fell_back;
  return good ? VerdictAction::confirmed : VerdictAction::nothing;
}

Result<std::unique_ptr<Agent>> Agent::open(AgentOptions opts) {
  std::unique_ptr<Agent> a(new Agent(std::move(opts)));
  BW_RETURN_IF_ERROR(a->load());
  return a;
}

Agent::~Agent() {
  if (locked_) ostree_sysroot_unlock(sysroot_.get());
}

std::string Agent::path_in_sysroot(const std::string& p) const {
  return (opts_.sysroot == "/" ? "" : opts_.sysroot) + p;
}

std::string os_path(OstreeSysroot* sysroot, const std::string& sysroot_path, const std::string& p) {
  if (sysroot_path == "/") return p;
  if (!p.starts_with("/usr/") && !p.starts_with("/etc/")) return sysroot_path + p;
  // The OS's files: those of the deployment that boots next.
  GPtrArray* all = ostree_sysroot_get_deployments(sysroot);
  std::string root;
  if (all->len > 0) {
    char* dir = ostree_sysroot_get_deployment_dirpath(sysroot, static_cast<OstreeDeployment*>(all->pdata[0]));
    root = sysroot_path + "/" + dir;
    g_free(dir);
  }
  g_ptr_array_unref(all);
  return root.empty() ? sysroot_path + p : root + p;
}

Result<Config> load_agent_config(const std::string& sysroot_path, const std::string& config_file) {
  if (!config_file.empty()) return load_config(config_file);
  std::string path = "/etc/bulwark/update.toml";
  if (sysroot_path != "/") {
    GPtr<GFile> file(g_file_new_for_path(sysroot_path.c_str()));
    GPtr<OstreeSysroot> sysroot(ostree_sysroot_new(file.get()));
    GErrorHolder err;
    if (!ostree_sysroot_load(sysroot.get(), nullptr, err.out()))
      return err.err("loading the sysroot " + sysroot_path);
    path = os_path(sysroot.get(), sysroot_path, path);
  }
  return load_config(path);
}

Result<void> Agent::load() {
  GPtr<GFile> file(g_file_new_for_path(opts_.sysroot.c_str()));
  sysroot_.reset(ostree_sysroot_new(file.get()));
  GErrorHolder err;
  if (!ostree_sysroot_load(sysroot_.get(), nullptr, err.out()))
    return err.err("loading the sysroot " + opts_.sysroot);
  if (!opts_.read_only) {
    gboolean acquired = FALSE;
    if (!ostree_sysroot_try_lock(sysroot_.get(), &acquired, err.out()))
      return err.err("locking the sysroot " + opts_.sysroot);
    if (!acquired)
      return make_error(0, "the sysroot %s is locked by another update (bulwark-update or ostree)",
                        opts_.sysroot.c_str());
    locked_ = true;
    // Re-read under the lock: another writer may have finished just before.
    if (!ostree_sysroot_load(sysroot_.get(), nullptr, err.out()))
      return err.err("loading the sysroot " + opts_.sysroot);
  }
  if (!ostree_sysroot_get_repo(sysroot_.get(), &repo_, nullptr, err.out()))
    return err.err("opening the repository of " + opts_.sysroot);
  g_object_unref(repo_);  // the sysroot keeps its own reference
  booted_ = ostree_sysroot_get_booted_deployment(sysroot_.get());
  const auto& os = opts_.config.os;
  if (!dir_exists(path_in_sysroot("/ostree/deploy/" + os)))
    return make_error(0, "%s: no OS '%s' in this sysroot (remote.os in %s)", opts_.sysroot.c_str(), os.c_str(),
                      opts_.config.file.c_str());
  state_dir_ = state_dir(opts_.sysroot, os);
  std::string warning;
  BW_ASSIGN_OR_RETURN(state_, load_state(state_dir_, &warning));
  if (!warning.empty()) log::warning(warning);
  if (!opts_.read_only) finish_interrupted_deploy();
  // The first look after a reboot into the trial deployment.
  if (!opts_.read_only && booted_ && state_.state == State::pending_reboot && !state_.trial_checksum.empty() &&
      state_.trial_boot_id != current_boot_id()) {
    if (state_.trial_checksum == ostree_deployment_get_csum(booted_))
      transition(State::trial_boot, "booted into the new deployment; waiting for the boot verdict");
  }
  return {};
}

Result<void> Agent::save() { return save_state(state_dir_, state_); }

void Agent::transition(State to, const std::string& reason) {
  if (to != state_.state || reason != state_.reason)
    log::info(strf("state: %s -> %s (%s)", state_name(state_.state), state_name(to), reason.c_str()));
  state_.state = to;
  state_.reason = reason;
  state_.since = now_s();
  if (to != State::failed) state_.error.clear();
  if (auto r = save(); !r) log::warning("saving the update state: " + r.error().text() + ", ignoring");
  write_metrics();
}

Unexpected Agent::fail(Error e) {
  state_.error = e.text();
  transition(State::failed, e.text());
  return Unexpected(std::move(e));
}

void Agent::write_metrics() {
  if (opts_.config.metrics_textfile.empty()) return;
  auto st = status();
  if (!st) {
    log::warning("metrics: " + st.error().text() + ", ignoring");
    return;
  }
  std::string path = path_in_sysroot(opts_.config.metrics_textfile);
  if (auto r = write_file_atomic(path, render_metrics(*st, now_s()), 0644, Durability::volatile_); !r)
    log::warning("writing the metrics textfile: " + r.error().text() + ", ignoring");
}

std::vector<OstreeDeployment*> Agent::deployments() const {
  std::vector<OstreeDeployment*> out;
  GPtrArray* all = ostree_sysroot_get_deployments(sysroot_.get());
  for (guint i = 0; i < all->len; ++i) {
    auto* d = static_cast<OstreeDeployment*>(all->pdata[i]);
    if (opts_.config.os == ostree_deployment_get_osname(d)) out.push_back(d);
  }
  g_ptr_array_unref(all);
  return out;
}

Result<Status> Agent::status() {
  Status s;
  s.os = opts_.config.os;
  s.booted_from_ostree = booted_ != nullptr;
  s.state = state_;
  auto deps = deployments();
  int booted_pos = -1;
  for (size_t i = 0; i < deps.size(); ++i)
    if (booted_ && ostree_deployment_equal(deps[i], booted_)) booted_pos = static_cast<int>(i);
  bool rollback_named = false;
  for (size_t i = 0; i < deps.size(); ++i) {
    Deployment d;
    d.index = static_cast<int>(i);
    d.stateroot = ostree_deployment_get_osname(deps[i]);
    d.staged = ostree_deployment_is_staged(deps[i]);
    auto info = read_commit_info(repo_, ostree_deployment_get_csum(deps[i]));
    if (info) d.commit = *info;
    else d.commit.checksum = ostree_deployment_get_csum(deps[i]);
    if (booted_pos >= 0) {
      if (static_cast<int>(i) == booted_pos) d.role = "booted";
      else if (static_cast<int>(i) < booted_pos) d.role = "pending";
      else if (!rollback_named) d.role = "rollback", rollback_named = true;
      else d.role = "other";
    } else {
      // Not booted from this sysroot: the first deployment boots next.
      if (i == 0) d.role = "default";
      else if (!rollback_named) d.role = "rollback", rollback_named = true;
      else d.role = "other";
    }
    s.deployments.push_back(std::move(d));
  }
  return s;
}

Result<TrustedKeys> Agent::trusted_keys() const {
  std::vector<std::string> dirs;
  for (const auto& d : opts_.config.key_dirs) dirs.push_back(os_path(sysroot_.get(), opts_.sysroot, d));
  BW_ASSIGN_OR_RETURN(auto keys, load_trusted_keys(dirs));
  if (keys.trusted.empty())
    return make_error(0, "no trusted update key in %s (trust.keys in %s)", join(dirs, ", ").c_str(),
                      opts_.config.file.c_str());
  return keys;
}

Result<CheckRecord> Agent::fetch_candidate(Remote& remote, const TrustedKeys& keys) {
  CheckRecord rec;
  rec.time = now_s();
  BW_ASSIGN_OR_RETURN(auto checksum, remote.resolve_ref(keys));
  BW_RETURN_IF_ERROR(with_context(remote.pull_commit_only(checksum), "fetching the commit " + checksum));
  BW_RETURN_IF_ERROR(verify_commit(repo_, checksum, keys));
  BW_ASSIGN_OR_RETURN(rec.candidate, read_commit_info(repo_, checksum));
  const auto& c = rec.candidate;
  const auto& cfg = opts_.config;
  if (c.os.empty())
    return make_error(0, "commit %s on %s carries no bulwark.os: not a Bulwark OS commit", checksum.c_str(),
                      cfg.ref.c_str());
  if (c.os != cfg.os)
    return make_error(0, "commit %s on %s belongs to OS '%s'; this appliance runs '%s'", checksum.c_str(),
                      cfg.ref.c_str(), c.os.c_str(), cfg.os.c_str());
  if (c.sequence == 0)
    return make_error(0, "commit %s carries no bulwark.sequence: refusing it (anti-rollback)", checksum.c_str());
  // Already deployed: nothing to do (and not a refusal). When it is not the
  // default it was rolled back, and it is not taken again.
  auto deps = deployments();
  // The anti-rollback floor: the highest sequence ever deployed, and any
  // deployed now (state.json may have been lost).
  uint64_t default_seq = 0, floor = state_.highest_sequence;
  for (size_t i = 0; i < deps.size(); ++i) {
    auto info = read_commit_info(repo_, ostree_deployment_get_csum(deps[i]));
    if (!info) continue;
    if (i == 0) default_seq = info->sequence;
    floor = std::max(floor, info->sequence);
  }
  for (size_t i = 0; i < deps.size(); ++i) {
    if (checksum != ostree_deployment_get_csum(deps[i])) continue;
    // An older deployment served again is a downgrade, refused below; a
    // newer one that is not the default was rolled back.
    if (i > 0 && c.sequence <= default_seq) break;
    rec.ok = true;
    rec.available = false;
    if (i > 0) rec.error = "deployed but rolled back; waiting for a newer version";
    return rec;
  }
  for (const auto& f : state_.failed)
    if (c.sequence <= f.commit.sequence)
      return make_error(0, "%s is not newer than %s, which failed its boot (%s); waiting for a newer version",
                        describe(c).c_str(), describe(f.commit).c_str(), f.reason.c_str());
  if (c.sequence <= floor)
    return make_error(0,
                      "refusing %s: its sequence is not above %llu, already deployed here (a downgrade, or an "
                      "older commit served again)",
                      describe(c).c_str(), static_cast<unsigned long long>(floor));
  rec.ok = true;
  rec.available = true;
  return rec;
}

Result<CheckRecord> Agent::check() {
  BW_ASSIGN_OR_RETURN(auto checked, check_remote());
  return checked.record;
}

Result<Agent::Checked> Agent::check_remote() {
  // A check that finds nothing new returns to these states: they describe
  // the deployments, not the last check.
  State before = state_.state;
  std::string before_reason = state_.reason;
  bool keep = before == State::pending_reboot || before == State::trial_boot || before == State::rolled_back;
  transition(State::checking, "checking " + opts_.config.url + " for " + opts_.config.ref);
  auto keys = trusted_keys();
  if (!keys) return fail(keys.error());
  auto remote = Remote::setup(repo_, repo_path(), opts_.config);
  if (!remote) return fail(remote.error());
  auto rec = fetch_candidate(*remote, *keys);
  if (!rec) {
    state_.last_check = CheckRecord{now_s(), false, false, rec.error().text(), {}};
    return fail(rec.error());
  }
  state_.last_check = *rec;
  if (rec->available) transition(State::idle, "update available: " + describe(rec->candidate));
  else if (keep) transition(before, before_reason);
  else if (rec->error.empty()) transition(State::idle, "up to date: " + describe(rec->candidate));
  else transition(State::idle, "no update: " + describe(rec->candidate) + " " + rec->error);
  return Checked{std::move(*rec), std::move(*remote)};
}

std::string Agent::repo_path() const {
  // libostree names the sysroot's repository by an fd (/proc/self/fd/N),
  // which the fetch worker does not have: use its place in the sysroot.
  return path_in_sysroot("/ostree/repo");
}

std::string Agent::grubenv_path() const { return path_in_sysroot(opts_.config.grubenv); }

bool Agent::boot_counting() const {
  std::string path = grubenv_path();
  return dir_exists(path.substr(0, path.find_last_of('/')));
}

Result<UpgradeResult> Agent::upgrade() {
  UpgradeResult res;
  BW_ASSIGN_OR_RETURN(auto checked, check_remote());
  const auto& rec = checked.record;
  if (!rec.available) {
    res.commit = rec.candidate;
    res.message = "no update: " + describe(rec.candidate) + " is already deployed" +
                  (rec.error.empty() ? "" : " (" + rec.error + ")");
    return res;
  }
  const auto& c = rec.candidate;
  auto& remote = checked.remote;
  transition(State::downloading, "pulling " + describe(c));
  // The commit object, named by its checksum, is the one whose signature
  // check_remote() verified; libostree checks every object the pull adds
  // against the checksums that commit names.
  if (auto r = remote.pull(c.checksum, opts_.progress); !r) return fail(r.error());

  transition(State::deploying, "deploying " + describe(c));
  GErrorHolder err;
  std::string refspec = remote.name() + ":" + opts_.config.ref;
  if (!ostree_repo_set_ref_immediate(repo_, remote.name().c_str(), opts_.config.ref.c_str(), c.checksum.c_str(),
                                     nullptr, err.out()))
    return fail(err.err("setting " + refspec).value());
  std::unique_ptr<GKeyFile, decltype(&g_key_file_unref)> origin(
      ostree_sysroot_origin_new_from_refspec(sysroot_.get(), refspec.c_str()), g_key_file_unref);
  GPtr<OstreeDeployment> merge(ostree_sysroot_get_merge_deployment(sysroot_.get(), opts_.config.os.c_str()));
  OstreeDeployment* new_raw = nullptr;
  if (booted_) {
    // Staged: written to /run now, made the default by the finalizer at
    // shutdown (with /etc merged as it is then).
    if (!ostree_sysroot_stage_tree_with_options(sysroot_.get(), opts_.config.os.c_str(), c.checksum.c_str(),
                                                origin.get(), merge.get(), nullptr, &new_raw, nullptr, err.out()))
      return fail(err.err("staging " + c.checksum).value());
    res.staged = true;
  } else {
    if (!ostree_sysroot_deploy_tree_with_options(sysroot_.get(), opts_.config.os.c_str(), c.checksum.c_str(),
                                                 origin.get(), merge.get(), nullptr, &new_raw, nullptr, err.out()))
      return fail(err.err("deploying " + c.checksum).value());
    GPtr<OstreeDeployment> fresh(new_raw);
    new_raw = nullptr;
    if (!ostree_sysroot_simple_write_deployment(sysroot_.get(), opts_.config.os.c_str(), fresh.get(), merge.get(),
                                                OSTREE_SYSROOT_SIMPLE_WRITE_DEPLOYMENT_FLAGS_NONE, nullptr,
                                                err.out()))
      return fail(err.err("writing the new deployment list").value());
  }
  if (new_raw) g_object_unref(new_raw);
  // Reload so status() sees the new list.
  if (!ostree_sysroot_load(sysroot_.get(), nullptr, err.out())) return fail(err.err("reloading the sysroot").value());
  booted_ = ostree_sysroot_get_booted_deployment(sysroot_.get());

  res.deployed = true;
  res.commit = c;
  res.message = strf("%s %s; it boots next%s", res.staged ? "staged" : "deployed", describe(c).c_str(),
                     res.staged ? " (finalized at shutdown)" : "");
  after_deploy(c, res.message);
  return res;
}

void Agent::after_deploy(const CommitInfo& c, const std::string& message) {
  if (boot_counting()) {
    if (auto r = arm_boot_counter(grubenv_path(), opts_.config.boot_attempts); !r)
      log::warning("arming the boot counter: " + r.error().text() + ", ignoring");
  } else {
    log::info("no GRUB environment directory for " + grubenv_path() + ": boot counting is off");
  }
  state_.highest_sequence = std::max(state_.highest_sequence, c.sequence);
  state_.trial_checksum = c.checksum;
  state_.trial_boot_id = current_boot_id();
  ++state_.upgrades_total;
  transition(State::pending_reboot, message);
}

// An agent killed after the new deployment list was written but before the
// state was saved left the deployment in place without its boot counter or
// trial record; finish that bookkeeping now rather than treat the version
// as merely "up to date".
void Agent::finish_interrupted_deploy() {
  if (state_.state != State::deploying) return;
  const auto& c = state_.last_check.candidate;
  auto deps = deployments();
  if (c.checksum.empty() || deps.empty() || c.checksum != ostree_deployment_get_csum(deps[0]) ||
      state_.trial_checksum == c.checksum || (booted_ && ostree_deployment_equal(deps[0], booted_)))
    return;
  log::warning("the last upgrade was interrupted after " + describe(c) + " was deployed; finishing it");
  after_deploy(c, "deployed " + describe(c) + " (an interrupted upgrade, finished); it boots next");
}

Result<void> Agent::make_default(OstreeDeployment* target) {
  GPtrArray* all = ostree_sysroot_get_deployments(sysroot_.get());
  GPtrArray* next = g_ptr_array_new_with_free_func(g_object_unref);
  g_ptr_array_add(next, g_object_ref(target));
  for (guint i = 0; i < all->len; ++i) {
    auto* d = static_cast<OstreeDeployment*>(all->pdata[i]);
    // A staged deployment only exists at the head of the list; leaving it
    // out drops it.
    if (ostree_deployment_equal(d, target) || ostree_deployment_is_staged(d)) continue;
    g_ptr_array_add(next, g_object_ref(d));
  }
  g_ptr_array_unref(all);
  GErrorHolder err;
  bool ok = ostree_sysroot_write_deployments(sysroot_.get(), next, nullptr, err.out());
  g_ptr_array_unref(next);
  if (!ok) return err.err("writing the deployment list");
  if (!ostree_sysroot_load(sysroot_.get(), nullptr, err.out())) return err.err("reloading the sysroot");
  booted_ = ostree_sysroot_get_booted_deployment(sysroot_.get());
  if (boot_counting())
    if (auto r = disarm_boot_counter(grubenv_path()); !r)
      log::warning("disarming the boot counter: " + r.error().text() + ", ignoring");
  return {};
}

Result<std::string> Agent::rollback() {
  auto deps = deployments();
  OstreeDeployment* target = nullptr;
  if (booted_ && !deps.empty() && !ostree_deployment_equal(deps[0], booted_)) {
    target = booted_;  // a pending deployment: keep running what runs now
  } else if (deps.size() >= 2) {
    target = deps[1];
  }
  if (!target) return make_error(0, "no deployment of '%s' to roll back to", opts_.config.os.c_str());
  BW_ASSIGN_OR_RETURN(auto info, read_commit_info(repo_, ostree_deployment_get_csum(target)));
  if (auto r = make_default(target); !r) return fail(r.error());
  ++state_.rollbacks_total;
  state_.trial_checksum.clear();
  state_.trial_boot_id.clear();
  std::string msg = "rolled back: " + describe(info) + " boots next";
  transition(State::rolled_back, msg);
  return msg;
}

Result<VerdictResult> Agent::boot_verdict(bool good, const std::string& reason) {
  if (!booted_)
    return make_error(0, "boot-verdict: %s is not the sysroot of a system booted from ostree",
                      opts_.sysroot.c_str());
  auto deps = deployments();
  std::string booted = ostree_deployment_get_csum(booted_);
  std::string default_ = deps.empty() ? "" : ostree_deployment_get_csum(deps[0]);
  bool this_boot = !state_.trial_boot_id.empty() && state_.trial_boot_id == current_boot_id();
  VerdictResult res;
  res.action = decide_verdict(good, booted, default_, state_.trial_checksum, this_boot);
  auto record_failure = [&](const std::string& why) -> Result<CommitInfo> {
    BW_ASSIGN_OR_RETURN(auto info, read_commit_info(repo_, state_.trial_checksum));
    state_.failed.push_back({info, why, now_s()});
    ++state_.failed_boots_total;
    ++state_.rollbacks_total;
    state_.highest_sequence = std::max(state_.highest_sequence, info.sequence);
    state_.trial_checksum.clear();
    state_.trial_boot_id.clear();
    return info;
  };
  switch (res.action) {
    case VerdictAction::confirmed: {
      if (boot_counting())
        if (auto r = mark_boot_good(grubenv_path()); !r)
          log::warning("marking the boot good: " + r.error().text() + ", ignoring");
      bool was_trial = state_.trial_checksum == booted;
      if (was_trial) {
        state_.trial_checksum.clear();
        state_.trial_boot_id.clear();
      }
      auto info = read_commit_info(repo_, booted);
      res.message = "boot good: " + (info ? describe(*info) : booted) + " (" + reason + ")";
      transition(was_trial || state_.state == State::trial_boot ? State::idle : state_.state, res.message);
      return res;
    }
    case VerdictAction::rolled_back: {
      BW_ASSIGN_OR_RETURN(auto info, record_failure("boot verdict bad: " + reason));
      OstreeDeployment* target = deps.size() >= 2 ? (ostree_deployment_equal(deps[0], booted_) ? deps[1] : deps[0]) : nullptr;
      if (!target) return fail(make_error(0, "%s failed its boot and there is no deployment to fall back to",
                                          describe(info).c_str()).value());
      if (auto r = make_default(target); !r) return fail(r.error());
      res.reboot = true;
      res.message = "boot bad: " + describe(info) + " failed (" + reason + "); rolled back, rebooting into the previous version";
      transition(State::rolled_back, res.message);
      return res;
    }
    case VerdictAction::fell_back: {
      BW_ASSIGN_OR_RETURN(auto info, record_failure("did not complete its boot; the bootloader fell back"));
      if (auto r = make_default(booted_); !r) return fail(r.error());
      res.message = describe(info) + " did not complete its boot (bootloader fell back); it stays rolled back";
      transition(State::rolled_back, res.message);
      if (!good) log::error("the fallback deployment is unhealthy too: " + reason);
      return res;
    }
    case VerdictAction::nothing:
      res.message = "boot verdict bad (" + reason + ") for a deployment that was not on trial: nothing to roll back to";
      log::error(res.message);
      return res;
  }
  return res;
}

}  // namespace bw::update
