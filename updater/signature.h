// Signatures on ostree commits and summaries, stored as upstream ostree
// stores ed25519 signatures: the commit's detached metadata (or the
// summary.sig file) maps `ostree.sign.ed25519` to an `aay` of 64-byte
// signatures over the object's bytes. Bulwark adds `bulwark.sign.ed25519-keys`
// (an `aay` of the signers' public keys, in the same order) so that a refusal
// can say whose signature it saw; upstream tools ignore the extra key.
#pragma once

#include <ostree.h>

#include <string>
#include <vector>

#include "base/result.h"
#include "updater/keys.h"
#include "updater/status.h"

namespace bw::update {

inline constexpr const char* kSignatureKey = "ostree.sign.ed25519";
inline constexpr const char* kSignerKeysKey = "bulwark.sign.ed25519-keys";

// Adds a signature by each key to the commit's detached metadata (keeping
// the other entries and the signatures it already has).
Result<void> sign_commit(OstreeRepo* repo, const std::string& checksum, const std::vector<SecretKey>& keys);

// Succeeds when at least one signature on the commit is by a trusted,
// unrevoked key, and returns that key. The error says why not: unsigned,
// signed only by untrusted or revoked keys (named), or signatures that do
// not match the commit's bytes.
Result<PublicKey> verify_commit(OstreeRepo* repo, const std::string& checksum, const TrustedKeys& keys);

// The same over a summary's bytes and its summary.sig variant.
Result<std::string> sign_summary_bytes(const std::string& summary, const std::vector<SecretKey>& keys);
Result<PublicKey> verify_summary(GBytes* summary, GBytes* signatures, const TrustedKeys& keys);

// The commit's Bulwark metadata (version, bulwark.sequence, bulwark.os).
Result<CommitInfo> read_commit_info(OstreeRepo* repo, const std::string& checksum);

}  // namespace bw::update
