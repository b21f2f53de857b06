// Keys and signatures: upstream ostree's key file formats, ed25519 over a
// real commit in a real (temporary) repository, and every way a signature
// can be refused, each named in the message.

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/file.h"
#include "updater/keys.h"
#include "updater/publish.h"
#include "updater/signature.h"
#include "update_testing.h"

namespace bw::update {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bw-update-sig-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { (void)system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SecretKey make_key() {
  auto k = generate_key();
  EXPECT_TRUE(k);
  return *k;
}

void write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(write_file_atomic(path, text, 0644, Durability::volatile_)) << path;
}

TEST(Keys, Base64RoundTripAndRejects) {
  std::vector<uint8_t> data = {0, 1, 2, 250, 251, 252, 253};
  auto text = base64_encode(data.data(), data.size());
  auto back = base64_decode(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(base64_decode("abc"));       // length
  EXPECT_FALSE(base64_decode("ab!d"));      // character
  EXPECT_FALSE(base64_decode(""));
}

TEST(Keys, SignVerify) {
  auto k = make_key();
  auto sig = sign(k, "hello");
  ASSERT_TRUE(sig);
  EXPECT_TRUE(verify(k.pub, "hello", sig->data(), sig->size()));
  EXPECT_FALSE(verify(k.pub, "hellO", sig->data(), sig->size()));
  auto other = make_key();
  EXPECT_FALSE(verify(other.pub, "hello", sig->data(), sig->size()));
  EXPECT_FALSE(verify(k.pub, "hello", sig->data(), 63));
}

TEST(Keys, FilesInUpstreamFormat) {
  TempDir t;
  auto k = make_key();
  write(t.path() + "/s", "# a comment\n\n" + format_secret_key(k));
  write(t.path() + "/p", format_public_key(k.pub));
  auto s = read_secret_keys(t.path() + "/s");
  ASSERT_TRUE(s) << s.error().text();
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].pub, k.pub);
  EXPECT_EQ((*s)[0].seed, k.seed);
  auto p = read_public_keys(t.path() + "/p");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0], k.pub);
  // The secret file is 64 bytes: seed then public key.
  auto raw = base64_decode(std::string(format_secret_key(k).substr(0, 88)));
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->size(), 64u);
}

TEST(Keys, BadKeyFilesNameFileAndLine) {
  TempDir t;
  auto k = make_key();
  write(t.path() + "/short", "\n" + format_public_key(k.pub).substr(0, 20) + "\n");
  auto r = read_public_keys(t.path() + "/short");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(t.path() + "/short:2:"), std::string::npos) << r.error().message;
  // A public key where a secret key is expected.
  write(t.path() + "/pub-as-secret", format_public_key(k.pub));
  auto s = read_secret_keys(t.path() + "/pub-as-secret");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("64 bytes"), std::string::npos) << s.error().message;
  // Seed and public half that do not belong together.
  auto other = make_key();
  SecretKey mixed = k;
  mixed.pub = other.pub;
  write(t.path() + "/mixed", format_secret_key(mixed));
  s = read_secret_keys(t.path() + "/mixed");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("does not belong"), std::string::npos) << s.error().message;
  write(t.path() + "/empty", "# nothing\n");
  EXPECT_FALSE(read_public_keys(t.path() + "/empty"));
}

TEST(Keys, TrustedMinusRevoked) {
  TempDir t;
  auto a = make_key(), b = make_key();
  ASSERT_EQ(mkdir((t.path() + "/trusted.d").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((t.path() + "/revoked.d").c_str(), 0755), 0);
  write(t.path() + "/trusted.d/a.pub", format_public_key(a.pub));
  write(t.path() + "/trusted.d/b.pub", format_public_key(b.pub));
  auto keys = load_trusted_keys({t.path() + "/trusted.d", t.path() + "/missing/trusted.d"});
  ASSERT_TRUE(keys) << keys.error().text();
  EXPECT_TRUE(keys->trusts(a.pub));
  EXPECT_TRUE(keys->trusts(b.pub));
  write(t.path() + "/revoked.d/a.pub", format_public_key(a.pub));
  keys = load_trusted_keys({t.path() + "/trusted.d"});
  ASSERT_TRUE(keys);
  EXPECT_FALSE(keys->trusts(a.pub));
  EXPECT_TRUE(keys->trusts(b.pub));
  write(t.path() + "/trusted.d/junk", "not a key\n");
  EXPECT_FALSE(load_trusted_keys({t.path() + "/trusted.d"}));
}

// A repository with two commits of a minimal OS tree.
class SignedRepo : public ::testing::Test {
 protected:
  void SetUp() override {
    repo = t.path() + "/repo";
    ASSERT_EQ(system(("ostree init --mode=archive-z2 --repo=" + repo + " 2>/dev/null").c_str()), 0)
        << "the ostree command is needed to create the test repository";
    tree = t.path() + "/tree";
    ASSERT_EQ(system(("mkdir -p " + tree + "/usr/bin " + tree + "/usr/lib/modules/6.1").c_str()), 0);
    write(tree + "/usr/lib/os-release", "ID=bulwark\n");
    write(tree + "/usr/lib/modules/6.1/vmlinuz", "kernel\n");
    write(tree + "/usr/bin/app", "v1\n");
    a = commit("1.0", {signer});
    write(tree + "/usr/bin/app", "v2\n");
    b = commit("2.0", {});
    auto r = open_repo(repo);
    ASSERT_TRUE(r);
    handle = std::move(*r);
  }
  std::string commit(const std::string& version, std::vector<SecretKey> keys) {
    CommitRequest req;
    req.repo = repo;
    req.branch = "os/stable";
    req.tree = tree;
    req.version = version;
    req.keys = std::move(keys);
    auto c = commit_tree(req);
    EXPECT_TRUE(c) << (c ? "" : c.error().text());
    return c ? *c : "";
  }
  TrustedKeys trusting(const std::vector<SecretKey>& ks) {
    TrustedKeys k;
    for (const auto& s : ks) k.trusted.push_back(s.pub);
    return k;
  }

  TempDir t;
  std::string repo, tree, a, b;
  SecretKey signer = make_key();
  GPtr<OstreeRepo> handle;
};

TEST_F(SignedRepo, CommitCarriesVersionSequenceOs) {
  auto ia = read_commit_info(handle.get(), a);
  auto ib = read_commit_info(handle.get(), b);
  ASSERT_TRUE(ia && ib);
  EXPECT_EQ(ia->version, "1.0");
  EXPECT_EQ(ia->sequence, 1u);
  EXPECT_EQ(ia->os, "bulwark");
  EXPECT_EQ(ib->sequence, 2u);  // the parent's plus one
}

TEST_F(SignedRepo, SequenceMustGrow) {
  CommitRequest req;
  req.repo = repo;
  req.branch = "os/stable";
  req.tree = tree;
  req.version = "3.0";
  req.sequence = 2;
  auto c = commit_tree(req);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("not greater than the parent's"), std::string::npos) << c.error().message;
}

TEST_F(SignedRepo, TreeWithoutKernelIsRefused) {
  ASSERT_EQ(system(("rm -rf " + tree + "/usr/lib/modules").c_str()), 0);
  CommitRequest req{repo, "os/stable", tree, "3.0", std::nullopt, "", "", {}};
  auto c = commit_tree(req);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("kernel"), std::string::npos) << c.error().message;
}

TEST_F(SignedRepo, VerifiesWithTrustedKey) {
  auto k = verify_commit(handle.get(), a, trusting({signer}));
  ASSERT_TRUE(k) << k.error().text();
  EXPECT_EQ(*k, signer.pub);
}

TEST_F(SignedRepo, UnsignedIsRefused) {
  auto k = verify_commit(handle.get(), b, trusting({signer}));
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("is not signed"), std::string::npos) << k.error().message;
}

TEST_F(SignedRepo, UntrustedKeyIsNamed) {
  auto stranger = make_key();
  ASSERT_TRUE(sign_commit(handle.get(), b, {stranger}));
  auto k = verify_commit(handle.get(), b, trusting({signer}));
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("untrusted key " + key_id(stranger.pub)), std::string::npos)
      << k.error().message;
}

TEST_F(SignedRepo, SignatureOfAnotherCommitDoesNotMatch) {
  // Commit b presented with a's signatures: the content changed after signing.
  GVariant* meta = nullptr;
  ASSERT_TRUE(ostree_repo_read_commit_detached_metadata(handle.get(), a.c_str(), &meta, nullptr, nullptr));
  ASSERT_TRUE(ostree_repo_write_commit_detached_metadata(handle.get(), b.c_str(), meta, nullptr, nullptr));
  g_variant_unref(meta);
  auto k = verify_commit(handle.get(), b, trusting({signer}));
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("does not match the content"), std::string::npos) << k.error().message;
}

TEST_F(SignedRepo, RevokedKeyIsRefused) {
  auto keys = trusting({signer});
  keys.revoked.push_back(signer.pub);
  auto k = verify_commit(handle.get(), a, keys);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("revoked key"), std::string::npos) << k.error().message;
}

TEST_F(SignedRepo, SeveralSignaturesOneTrustedIsEnough) {
  auto next = make_key();
  ASSERT_TRUE(sign_commit(handle.get(), a, {next}));
  ASSERT_TRUE(sign_commit(handle.get(), a, {next}));  // signing twice adds nothing
  EXPECT_TRUE(verify_commit(handle.get(), a, trusting({next})));
  EXPECT_TRUE(verify_commit(handle.get(), a, trusting({signer})));
  GVariant* meta = nullptr;
  ASSERT_TRUE(ostree_repo_read_commit_detached_metadata(handle.get(), a.c_str(), &meta, nullptr, nullptr));
  GVariant* sigs = g_variant_lookup_value(meta, kSignatureKey, G_VARIANT_TYPE("aay"));
  ASSERT_NE(sigs, nullptr);
  EXPECT_EQ(g_variant_n_children(sigs), 2u);
  g_variant_unref(sigs);
  g_variant_unref(meta);
}

TEST_F(SignedRepo, SignedSummary) {
  ASSERT_TRUE(publish_repo(repo, false, {signer}));
  auto summary = read_file(repo + "/summary");
  auto sig = read_file(repo + "/summary.sig");
  ASSERT_TRUE(summary && sig);
  GBytes* s = g_bytes_new(summary->data(), summary->size());
  GBytes* g = g_bytes_new(sig->data(), sig->size());
  EXPECT_TRUE(verify_summary(s, g, trusting({signer})));
  auto other = make_key();
  auto bad = verify_summary(s, g, trusting({other}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("summary"), std::string::npos);
  g_bytes_unref(s);
  g_bytes_unref(g);
}

}  // namespace
}  // namespace bw::update

namespace bw::update {
namespace {

// Output of a program that must exist (the bootstrap installs ostree and openssl).
std::string output_of(const std::vector<std::string>& argv) {
  std::string path = testing::find_program(argv[0]);
  EXPECT_FALSE(path.empty()) << argv[0] << " is not installed";
  std::vector<std::string> args = argv;
  args[0] = path;
  return testing::run(args).output;
}

// The format upstream ostree verifies: ostree's own command reads the
// signature from the detached metadata key, and OpenSSL's command verifies
// it over the commit object's bytes as stored in the repository, with the
// public key from the key file. None of Bulwark's code is on that path.
TEST_F(SignedRepo, UpstreamToolsReadAndVerifyTheSignature) {
  std::string text = output_of({"ostree", "--repo=" + repo, "show", std::string("--print-detached-metadata-key=") + kSignatureKey, a});
  // GVariant's text form of the first `ay`: [byte 0x.., ...], or, when the
  // bytes end in a NUL and hold no other, a bytestring b'...' with C escapes.
  std::string sig;
  if (text.starts_with("[[byte ")) {
    for (size_t pos = text.find("0x"); pos != std::string::npos; pos = text.find("0x", pos + 2)) {
      sig += static_cast<char>(std::stoi(text.substr(pos + 2, 2), nullptr, 16));
      if (text.find(']', pos) < text.find(',', pos)) break;  // end of the first signature
    }
  } else {
    ASSERT_TRUE(text.starts_with("[b'") || text.starts_with("[b\"")) << text;
    char quote = text[2];
    for (size_t i = 3; i < text.size() && text[i] != quote; ++i) {
      if (text[i] != '\\') {
        sig += text[i];
        continue;
      }
      char e = text[++i];
      if (e >= '0' && e <= '7') {
        int v = 0, n = 0;
        for (; n < 3 && i < text.size() && text[i] >= '0' && text[i] <= '7'; ++n, ++i) v = v * 8 + (text[i] - '0');
        --i;
        sig += static_cast<char>(v);
      } else {
        static const std::string from = "abfnrtv", to = "\a\b\f\n\r\t\v";
        auto k = from.find(e);
        sig += k == std::string::npos ? e : to[k];
      }
    }
    sig += '\0';  // a bytestring's terminating NUL is part of the array but not printed
  }
  ASSERT_EQ(sig.size(), 64u) << text;
  write(t.path() + "/sig", sig);
  // A raw ed25519 public key in SubjectPublicKeyInfo DER: fixed 12-byte prefix.
  std::string der("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
  der.append(reinterpret_cast<const char*>(signer.pub.data()), 32);
  write(t.path() + "/pub.der", der);
  std::string object = repo + "/objects/" + a.substr(0, 2) + "/" + a.substr(2) + ".commit";
  auto openssl_verify = [&](const std::string& file) {
    return output_of({"openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", t.path() + "/pub.der",
                      "-rawin", "-in", file, "-sigfile", t.path() + "/sig"});
  };
  std::string out = openssl_verify(object);
  EXPECT_NE(out.find("Signature Verified Successfully"), std::string::npos) << out;
  // And the same check fails for the other commit's bytes.
  std::string other = repo + "/objects/" + b.substr(0, 2) + "/" + b.substr(2) + ".commit";
  out = openssl_verify(other);
  EXPECT_EQ(out.find("Signature Verified Successfully"), std::string::npos) << out;
}

}  // namespace
}  // namespace bw::update
