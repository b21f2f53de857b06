#include "updater/signature.h"

#include <algorithm>

#include "updater/glib.h"

namespace bw::update {
namespace {

struct Signed {
  std::vector<std::string> sigs;
  std::vector<std::string> signers;  // public keys, parallel to sigs when known
};

std::string bytes_of(GVariant* v) {
  gsize n = 0;
  const auto* p = static_cast<const char*>(g_variant_get_fixed_array(v, &n, 1));
  return std::string(p ? p : "", n);
}

Signed read_signed(GVariant* dict) {
  Signed s;
  if (!dict) return s;
  VariantPtr sigs(g_variant_lookup_value(dict, kSignatureKey, G_VARIANT_TYPE("aay")));
  VariantPtr signers(g_variant_lookup_value(dict, kSignerKeysKey, G_VARIANT_TYPE("aay")));
  if (sigs)
    for (gsize i = 0; i < g_variant_n_children(sigs.get()); ++i) {
      VariantPtr c(g_variant_get_child_value(sigs.get(), i));
      s.sigs.push_back(bytes_of(c.get()));
    }
  if (signers)
    for (gsize i = 0; i < g_variant_n_children(signers.get()); ++i) {
      VariantPtr c(g_variant_get_child_value(signers.get(), i));
      s.signers.push_back(bytes_of(c.get()));
    }
  if (s.signers.size() != s.sigs.size()) s.signers.clear();  // not ours, or tampered with: no hints
  return s;
}

GVariant* aay(const std::vector<std::string>& items) {
  GVariantBuilder b;
  g_variant_builder_init(&b, G_VARIANT_TYPE("aay"));
  for (const auto& it : items)
    g_variant_builder_add_value(&b, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, it.data(), it.size(), 1));
  return g_variant_builder_end(&b);
}

// Copies `old` (may be null) into a new a{sv} with the signature entries replaced.
VariantPtr with_signatures(GVariant* old, const Signed& s) {
  GVariantDict d;
  g_variant_dict_init(&d, old);
  g_variant_dict_insert_value(&d, kSignatureKey, aay(s.sigs));
  g_variant_dict_insert_value(&d, kSignerKeysKey, aay(s.signers));
  return VariantPtr(g_variant_ref_sink(g_variant_dict_end(&d)));
}

Result<Signed> add_signatures(Signed s, std::string_view data, const std::vector<SecretKey>& keys) {
  for (const auto& k : keys) {
    std::string pub(reinterpret_cast<const char*>(k.pub.data()), k.pub.size());
    BW_ASSIGN_OR_RETURN(auto sig, sign(k, data));
    std::string sig_s(reinterpret_cast<const char*>(sig.data()), sig.size());
    if (std::find(s.sigs.begin(), s.sigs.end(), sig_s) != s.sigs.end()) continue;  // ed25519 is deterministic
    // Signatures without signer hints get empty hints so the lists stay parallel.
    if (s.signers.size() != s.sigs.size()) s.signers.assign(s.sigs.size(), std::string());
    s.sigs.push_back(sig_s);
    s.signers.push_back(pub);
  }
  return s;
}

Result<PublicKey> check(const Signed& s, std::string_view data, const TrustedKeys& keys, const std::string& what) {
  if (s.sigs.empty())
    return make_error(0, "%s is not signed (no %s signature)", what.c_str(), kSignatureKey);
  for (const auto& sig : s.sigs)
    for (const auto& k : keys.trusted)
      if (keys.trusts(k) && verify(k, data, reinterpret_cast<const uint8_t*>(sig.data()), sig.size())) return k;
  // No signature verifies: say the most precise reason the hints allow.
  std::vector<std::string> reasons;
  for (size_t i = 0; i < s.sigs.size(); ++i) {
    if (s.signers.empty() || s.signers[i].size() != 32) {
      reasons.push_back("a signature by an unnamed key that no trusted key verifies");
      continue;
    }
    PublicKey pub;
    std::copy(s.signers[i].begin(), s.signers[i].end(), pub.begin());
    bool matches = verify(pub, data, reinterpret_cast<const uint8_t*>(s.sigs[i].data()), s.sigs[i].size());
    bool listed = std::find(keys.trusted.begin(), keys.trusted.end(), pub) != keys.trusted.end();
    bool revoked = std::find(keys.revoked.begin(), keys.revoked.end(), pub) != keys.revoked.end();
    std::string id = key_id(pub);
    if (!matches && listed && !revoked)
      reasons.push_back("the signature by trusted key " + id +
                        " does not match the content (changed after signing)");
    else if (!matches)
      reasons.push_back("a signature by key " + id + " that does not match the content");
    else if (revoked)
      reasons.push_back("a signature by revoked key " + id);
    else
      reasons.push_back("a signature by untrusted key " + id);
  }
  std::string all;
  for (const auto& r : reasons) all += (all.empty() ? "" : "; ") + r;
  return make_error(0, "%s has no valid signature by a trusted key (%zu trusted): %s", what.c_str(),
                    keys.trusted.size() - std::count_if(keys.trusted.begin(), keys.trusted.end(),
                                                        [&](const PublicKey& k) { return !keys.trusts(k); }),
                    all.c_str());
}

Result<std::string> commit_bytes(OstreeRepo* repo, const std::string& checksum) {
  GErrorHolder err;
  GVariant* raw = nullptr;
  if (!ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &raw, err.out()))
    return err.err("loading commit " + checksum);
  VariantPtr commit(raw);
  BytesPtr bytes(g_variant_get_data_as_bytes(commit.get()));
  gsize n = 0;
  const auto* p = static_cast<const char*>(g_bytes_get_data(bytes.get(), &n));
  return std::string(p ? p : "", n);
}

// The commit's detached metadata (null when it has none).
Result<VariantPtr> detached_metadata(OstreeRepo* repo, const std::string& checksum) {
  GErrorHolder err;
  GVariant* raw = nullptr;
  if (!ostree_repo_read_commit_detached_metadata(repo, checksum.c_str(), &raw, nullptr, err.out()))
    return err.err("reading the detached metadata of " + checksum);
  return VariantPtr(raw);
}

}  // namespace

Result<void> sign_commit(OstreeRepo* repo, const std::string& checksum, const std::vector<SecretKey>& keys) {
  BW_ASSIGN_OR_RETURN(auto data, commit_bytes(repo, checksum));
  BW_ASSIGN_OR_RETURN(auto old, detached_metadata(repo, checksum));
  BW_ASSIGN_OR_RETURN(auto s, add_signatures(read_signed(old.get()), data, keys));
  auto meta = with_signatures(old.get(), s);
  GErrorHolder err;
  if (!ostree_repo_write_commit_detached_metadata(repo, checksum.c_str(), meta.get(), nullptr, err.out()))
    return err.err("writing the detached metadata of " + checksum);
  return {};
}

Result<PublicKey> verify_commit(OstreeRepo* repo, const std::string& checksum, const TrustedKeys& keys) {
  BW_ASSIGN_OR_RETURN(auto data, commit_bytes(repo, checksum));
  BW_ASSIGN_OR_RETURN(auto meta, detached_metadata(repo, checksum));
  return check(read_signed(meta.get()), data, keys, "commit " + checksum);
}

Result<std::string> sign_summary_bytes(const std::string& summary, const std::vector<SecretKey>& keys) {
  BW_ASSIGN_OR_RETURN(auto s, add_signatures(Signed{}, summary, keys));
  auto v = with_signatures(nullptr, s);
  return std::string(static_cast<const char*>(g_variant_get_data(v.get())), g_variant_get_size(v.get()));
}

Result<PublicKey> verify_summary(GBytes* summary, GBytes* signatures, const TrustedKeys& keys) {
  gsize n = 0;
  const auto* p = static_cast<const char*>(g_bytes_get_data(summary, &n));
  std::string data(p ? p : "", n);
  Signed s;
  if (signatures) {
    VariantPtr v(g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE("a{sv}"), signatures, FALSE)));
    if (!g_variant_is_normal_form(v.get())) return make_error(0, "summary.sig is malformed");
    s = read_signed(v.get());
  }
  return check(s, data, keys, "the repository summary");
}

Result<CommitInfo> read_commit_info(OstreeRepo* repo, const std::string& checksum) {
  GErrorHolder err;
  GVariant* raw = nullptr;
  if (!ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &raw, err.out()))
    return err.err("loading commit " + checksum);
  VariantPtr commit(raw);
  VariantPtr meta(g_variant_get_child_value(commit.get(), 0));
  CommitInfo info;
  info.checksum = checksum;
  const char* s = nullptr;
  if (g_variant_lookup(meta.get(), "version", "&s", &s)) info.version = s;
  if (g_variant_lookup(meta.get(), "bulwark.os", "&s", &s)) info.os = s;
  guint64 seq = 0;
  if (g_variant_lookup(meta.get(), "bulwark.sequence", "t", &seq)) info.sequence = seq;
  info.timestamp = static_cast<int64_t>(ostree_commit_get_timestamp(commit.get()));
  return info;
}

}  // namespace bw::update
