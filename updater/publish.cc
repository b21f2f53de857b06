#include "updater/publish.h"

#include <dirent.h>
#include <sys/stat.h>

#include <memory>

#include "base/file.h"
#include "base/strings.h"
#include "updater/signature.h"

namespace bw::update {
namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// The `ID=` of an os-release file, unquoted.
std::string os_release_id(const std::string& text) {
  for (const auto& raw : split(text, '\n')) {
    auto line = trim(raw);
    if (!line.starts_with("ID=")) continue;
    std::string v(line.substr(3));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    return v;
  }
  return "";
}

Result<void> check_tree(const std::string& tree) {
  if (!is_dir(tree)) return make_error(0, "%s: not a directory", tree.c_str());
  if (!is_dir(tree + "/usr")) return make_error(0, "%s: no usr/ directory (not an OS tree)", tree.c_str());
  if (exists(tree + "/etc"))
    return make_error(0, "%s: has a top-level etc/; ostree trees keep the default /etc as usr/etc", tree.c_str());
  std::string modules = tree + "/usr/lib/modules";
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(modules.c_str()), closedir);
  int kernels = 0;
  if (d)
    while (auto* e = readdir(d.get()))
      if (e->d_name[0] != '.' && exists(modules + "/" + e->d_name + "/vmlinuz")) ++kernels;
  if (kernels != 1)
    return make_error(0, "%s: needs exactly one kernel at usr/lib/modules/<version>/vmlinuz, found %d",
                      tree.c_str(), kernels);
  return {};
}

Result<uint64_t> parent_sequence(OstreeRepo* repo, const std::string& parent) {
  BW_ASSIGN_OR_RETURN(auto info, read_commit_info(repo, parent));
  return info.sequence;
}

}  // namespace

Result<GPtr<OstreeRepo>> open_repo(const std::string& path) {
  GPtr<GFile> file(g_file_new_for_path(path.c_str()));
  GPtr<OstreeRepo> repo(ostree_repo_new(file.get()));
  GErrorHolder err;
  if (!ostree_repo_open(repo.get(), nullptr, err.out())) return err.err("opening repository " + path);
  return repo;
}

Result<std::string> resolve_commit(OstreeRepo* repo, const std::string& rev) {
  GErrorHolder err;
  char* csum = nullptr;
  if (!ostree_repo_resolve_rev(repo, rev.c_str(), FALSE, &csum, err.out())) return err.err("resolving " + rev);
  std::string out(csum);
  g_free(csum);
  return out;
}

Result<std::string> commit_tree(const CommitRequest& req) {
  if (req.branch.empty() || !ostree_validate_rev(req.branch.c_str(), nullptr))
    return make_error(0, "--branch: '%s' is not a valid ref name", req.branch.c_str());
  if (req.version.empty()) return make_error(0, "--version: required");
  BW_RETURN_IF_ERROR(check_tree(req.tree));
  std::string os = req.os;
  if (os.empty()) {
    auto text = read_file(req.tree + "/usr/lib/os-release");
    if (!text) text = read_file(req.tree + "/usr/etc/os-release");
    if (text) os = os_release_id(*text);
    if (os.empty())
      return make_error(0, "%s: no ID= in usr/lib/os-release; pass --os", req.tree.c_str());
  }
  BW_ASSIGN_OR_RETURN(auto repo, open_repo(req.repo));
  GErrorHolder err;
  char* parent_raw = nullptr;
  if (!ostree_repo_resolve_rev(repo.get(), req.branch.c_str(), TRUE, &parent_raw, err.out()))
    return err.err("resolving " + req.branch);
  std::unique_ptr<char, decltype(&g_free)> parent(parent_raw, g_free);
  uint64_t parent_seq = 0;
  if (parent) {
    BW_ASSIGN_OR_RETURN(parent_seq, parent_sequence(repo.get(), parent.get()));
  }
  uint64_t seq = req.sequence.value_or(parent_seq + 1);
  if (parent && seq <= parent_seq)
    return make_error(0, "--sequence: %llu is not greater than the parent's (%llu on %s)",
                      static_cast<unsigned long long>(seq), static_cast<unsigned long long>(parent_seq),
                      req.branch.c_str());
  if (seq == 0) return make_error(0, "--sequence: must be at least 1");

  GVariantDict meta;
  g_variant_dict_init(&meta, nullptr);
  g_variant_dict_insert(&meta, "version", "s", req.version.c_str());
  g_variant_dict_insert(&meta, "bulwark.sequence", "t", static_cast<guint64>(seq));
  g_variant_dict_insert(&meta, "bulwark.os", "s", os.c_str());
  VariantPtr metadata(g_variant_ref_sink(g_variant_dict_end(&meta)));

  if (!ostree_repo_prepare_transaction(repo.get(), nullptr, nullptr, err.out()))
    return err.err("starting a transaction in " + req.repo);
  auto abort = [&](Unexpected e) -> Unexpected {
    (void)ostree_repo_abort_transaction(repo.get(), nullptr, nullptr);
    return e;
  };
  GPtr<OstreeMutableTree> mtree(ostree_mutable_tree_new());
  GPtr<GFile> dir(g_file_new_for_path(req.tree.c_str()));
  if (!ostree_repo_write_directory_to_mtree(repo.get(), dir.get(), mtree.get(), nullptr, nullptr, err.out()))
    return abort(err.err("reading " + req.tree));
  GFile* root_raw = nullptr;
  if (!ostree_repo_write_mtree(repo.get(), mtree.get(), &root_raw, nullptr, err.out()))
    return abort(err.err("writing the tree of " + req.tree));
  GPtr<GFile> root(root_raw);
  char* csum_raw = nullptr;
  std::string subject = req.subject.empty() ? os + " " + req.version : req.subject;
  if (!ostree_repo_write_commit(repo.get(), parent.get(), subject.c_str(), nullptr, metadata.get(),
                                OSTREE_REPO_FILE(root.get()), &csum_raw, nullptr, err.out()))
    return abort(err.err("writing the commit"));
  std::string checksum(csum_raw);
  g_free(csum_raw);
  if (!req.keys.empty()) {
    auto signed_ = sign_commit(repo.get(), checksum, req.keys);
    if (!signed_) return abort(Unexpected(signed_.error()));
  }
  ostree_repo_transaction_set_ref(repo.get(), nullptr, req.branch.c_str(), checksum.c_str());
  if (!ostree_repo_commit_transaction(repo.get(), nullptr, nullptr, err.out()))
    return err.err("committing the transaction");
  return checksum;
}

Result<void> publish_repo(const std::string& repo_path, bool static_deltas, const std::vector<SecretKey>& keys) {
  BW_ASSIGN_OR_RETURN(auto repo, open_repo(repo_path));
  GErrorHolder err;
  if (static_deltas) {
    GHashTable* refs_raw = nullptr;
    if (!ostree_repo_list_refs(repo.get(), nullptr, &refs_raw, nullptr, err.out()))
      return err.err("listing refs of " + repo_path);
    std::unique_ptr<GHashTable, decltype(&g_hash_table_unref)> refs(refs_raw, g_hash_table_unref);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, refs.get());
    while (g_hash_table_iter_next(&it, &k, &v)) {
      std::string to = static_cast<const char*>(v);
      GVariant* commit_raw = nullptr;
      if (!ostree_repo_load_variant(repo.get(), OSTREE_OBJECT_TYPE_COMMIT, to.c_str(), &commit_raw, err.out()))
        return err.err("loading " + to);
      VariantPtr commit(commit_raw);
      std::unique_ptr<char, decltype(&g_free)> from(ostree_commit_get_parent(commit.get()), g_free);
      // From the parent, or from nothing when the parent is not in the repository.
      {
        const char* f = from.get();
        if (f) {
          gboolean have = FALSE;
          if (!ostree_repo_has_object(repo.get(), OSTREE_OBJECT_TYPE_COMMIT, f, &have, nullptr, err.out()))
            return err.err("looking up " + std::string(f));
          if (!have) f = nullptr;
        }
        // libostree 2022.7 reads the parameters without a null check: pass an empty dictionary.
        VariantPtr params(g_variant_ref_sink(g_variant_new("a{sv}", nullptr)));
        if (!ostree_repo_static_delta_generate(repo.get(), OSTREE_STATIC_DELTA_GENERATE_OPT_MAJOR, f, to.c_str(),
                                               nullptr, params.get(), nullptr, err.out()))
          return err.err(strf("generating a static delta %s -> %s", f ? f : "(empty)", to.c_str()));
      }
    }
  }
  if (!ostree_repo_regenerate_summary(repo.get(), nullptr, nullptr, err.out()))
    return err.err("regenerating the summary of " + repo_path);
  std::string sig_path = repo_path + "/summary.sig";
  if (keys.empty()) {
    if (unlink(sig_path.c_str()) != 0 && errno != ENOENT) return sys_error("removing %s", sig_path.c_str());
    return {};
  }
  BW_ASSIGN_OR_RETURN(auto summary, read_file(repo_path + "/summary"));
  BW_ASSIGN_OR_RETURN(auto sig, sign_summary_bytes(summary, keys));
  return write_file_atomic(sig_path, sig);
}

}  // namespace bw::update
