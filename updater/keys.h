// ed25519 keys in upstream ostree's file formats, signing and verification
// with OpenSSL. A public key file holds base64 32-byte keys, one per line; a
// secret key file holds base64 64-byte keys (seed then public key). Blank
// lines and lines starting with '#' are ignored.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bw::update {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

struct SecretKey {
  std::array<uint8_t, 32> seed{};
  PublicKey pub{};
};

std::string base64_encode(const uint8_t* data, size_t len);
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

// A fresh key pair from the kernel's random source.
Result<SecretKey> generate_key();
// "<base64 of seed||pub>\n" and "<base64 of pub>\n".
std::string format_secret_key(const SecretKey& k);
std::string format_public_key(const PublicKey& k);

// Reads every key of a file; an empty file or a bad line is an error
// naming the file and the line.
Result<std::vector<SecretKey>> read_secret_keys(const std::string& path);
Result<std::vector<PublicKey>> read_public_keys(const std::string& path);

Result<Signature> sign(const SecretKey& key, std::string_view data);
bool verify(const PublicKey& key, std::string_view data, const uint8_t* sig, size_t sig_len);

// The keys an agent trusts: every key in every regular file of each trusted
// directory, minus every key in `revoked.d` beside any of them (a revoked
// key stays refused even where it is also listed as trusted). Missing
// directories are skipped; an unreadable or malformed file is an error.
struct TrustedKeys {
  std::vector<PublicKey> trusted;
  std::vector<PublicKey> revoked;
  std::vector<std::string> sources;  // files read, for messages
  bool trusts(const PublicKey& k) const;
};
Result<TrustedKeys> load_trusted_keys(const std::vector<std::string>& dirs);

// The first 8 bytes of a key in hex, to name it in messages.
std::string key_id(const PublicKey& k);

}  // namespace bw::update
