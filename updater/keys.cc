#include "updater/keys.h"

#include <dirent.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include <openssl/evp.h>

#include "base/file.h"
#include "base/strings.h"

namespace bw::update {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Result<PublicKey> public_of_seed(const std::array<uint8_t, 32>& seed) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!pkey) return make_error(0, "ed25519: cannot load a private key");
  PublicKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 || len != pub.size())
    return make_error(0, "ed25519: cannot derive the public key");
  return pub;
}

// Lines of a key file that carry a key.
Result<std::vector<std::pair<int, std::string>>> key_lines(const std::string& path) {
  BW_ASSIGN_OR_RETURN(auto text, read_file(path));
  std::vector<std::pair<int, std::string>> out;
  int n = 0;
  for (const auto& raw : split(text, '\n')) {
    ++n;
    auto line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    out.emplace_back(n, std::string(line));
  }
  if (out.empty()) return make_error(0, "%s: no key in the file", path.c_str());
  return out;
}

}  // namespace

std::string base64_encode(const uint8_t* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(n);
  return out;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return make_error(0, "not base64 (length %zu)", text.size());
  for (char c : text)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return make_error(0, "not base64 (character '%c')", c);
  std::vector<uint8_t> out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return make_error(0, "not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = 0;
  if (text.ends_with("==")) pad = 2;
  else if (text.ends_with("=")) pad = 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Result<SecretKey> generate_key() {
  SecretKey k;
  if (getrandom(k.seed.data(), k.seed.size(), 0) != static_cast<ssize_t>(k.seed.size()))
    return sys_error("getrandom");
  BW_ASSIGN_OR_RETURN(k.pub, public_of_seed(k.seed));
  return k;
}

std::string format_secret_key(const SecretKey& k) {
  std::array<uint8_t, 64> raw;
  std::copy(k.seed.begin(), k.seed.end(), raw.begin());
  std::copy(k.pub.begin(), k.pub.end(), raw.begin() + 32);
  auto s = base64_encode(raw.data(), raw.size()) + "\n";
  OPENSSL_cleanse(raw.data(), raw.size());
  return s;
}

std::string format_public_key(const PublicKey& k) { return base64_encode(k.data(), k.size()) + "\n"; }

Result<std::vector<SecretKey>> read_secret_keys(const std::string& path) {
  BW_ASSIGN_OR_RETURN(auto lines, key_lines(path));
  std::vector<SecretKey> keys;
  for (const auto& [n, line] : lines) {
    auto raw = base64_decode(line);
    if (!raw) return make_error(0, "%s:%d: %s", path.c_str(), n, raw.error().message.c_str());
    if (raw->size() != 64)
      return make_error(0, "%s:%d: an ed25519 secret key is 64 bytes (seed and public key), found %zu",
                        path.c_str(), n, raw->size());
    SecretKey k;
    std::copy(raw->begin(), raw->begin() + 32, k.seed.begin());
    std::copy(raw->begin() + 32, raw->end(), k.pub.begin());
    OPENSSL_cleanse(raw->data(), raw->size());
    BW_ASSIGN_OR_RETURN(auto derived, public_of_seed(k.seed));
    if (derived != k.pub)
      return make_error(0, "%s:%d: the public half does not belong to the seed", path.c_str(), n);
    keys.push_back(k);
  }
  return keys;
}

Result<std::vector<PublicKey>> read_public_keys(const std::string& path) {
  BW_ASSIGN_OR_RETURN(auto lines, key_lines(path));
  std::vector<PublicKey> keys;
  for (const auto& [n, line] : lines) {
    auto raw = base64_decode(line);
    if (!raw) return make_error(0, "%s:%d: %s", path.c_str(), n, raw.error().message.c_str());
    if (raw->size() != 32)
      return make_error(0, "%s:%d: an ed25519 public key is 32 bytes, found %zu", path.c_str(), n,
                        raw->size());
    PublicKey k;
    std::copy(raw->begin(), raw->end(), k.begin());
    keys.push_back(k);
  }
  return keys;
}

Result<Signature> sign(const SecretKey& key, std::string_view data) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return make_error(ENOMEM, "ed25519: cannot set up signing");
  Signature sig{};
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1 ||
      len != sig.size())
    return make_error(0, "ed25519: signing failed");
  return sig;
}

bool verify(const PublicKey& key, std::string_view data, const uint8_t* sig, size_t sig_len) {
  if (sig_len != 64) return false;
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return false;
  return EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sig, sig_len, reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

bool TrustedKeys::trusts(const PublicKey& k) const {
  return std::find(trusted.begin(), trusted.end(), k) != trusted.end() &&
         std::find(revoked.begin(), revoked.end(), k) == revoked.end();
}

namespace {

// Regular files of a directory in name order; a missing directory has none.
Result<std::vector<std::string>> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return out;
    return sys_error("opening key directory %s", dir.c_str());
  }
  while (auto* e = readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.starts_with(".")) continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<TrustedKeys> load_trusted_keys(const std::vector<std::string>& dirs) {
  TrustedKeys keys;
  for (const auto& dir : dirs) {
    std::string parent = dir.substr(0, dir.find_last_of('/'));
    for (auto [subdir, list] : {std::pair{dir, &keys.trusted}, std::pair{parent + "/revoked.d", &keys.revoked}}) {
      BW_ASSIGN_OR_RETURN(auto files, files_in(subdir));
      for (const auto& f : files) {
        BW_ASSIGN_OR_RETURN(auto ks, read_public_keys(f));
        list->insert(list->end(), ks.begin(), ks.end());
        keys.sources.push_back(f);
      }
    }
  }
  return keys;
}

std::string key_id(const PublicKey& k) {
  static const char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) {
    s += hex[k[i] >> 4];
    s += hex[k[i] & 15];
  }
  return s;
}

}  // namespace bw::update
