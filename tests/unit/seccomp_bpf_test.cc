// The classic-BPF interpreter, checker and disassembler (seccomp/bpf.h),
// each held against the kernel where the kernel can answer: the same
// programs are loaded with seccomp(2) in a child process.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "seccomp/bpf.h"
#include "seccomp_testing.h"

namespace bw::seccomp {
namespace {

using Prog = std::vector<struct sock_filter>;

constexpr uint32_t kArgLo0 = 16;  // args[0], low word on a little-endian machine
constexpr uint32_t kArgHi0 = 20;
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "offsets below assume little endian");

uint32_t ret_of(const Prog& p, SeccompData d = {}) {
  auto r = run_filter(p, d);
  EXPECT_TRUE(r) << (r ? "" : r.error().text());
  return r ? r->ret : 0xDEADBEEF;
}

TEST(SeccompBpf, AluOperationsWithConstantsAndX) {
  struct Case {
    uint16_t op;
    uint32_t a, k, want;
  };
  const Case cases[] = {
      {BPF_ADD, 7, 5, 12},         {BPF_SUB, 7, 9, 0xFFFFFFFE},   {BPF_MUL, 7, 6, 42},
      {BPF_DIV, 43, 6, 7},         {BPF_AND, 0xF0F0, 0xFF, 0xF0}, {BPF_OR, 0xF0, 0x0F, 0xFF},
      {BPF_XOR, 0xFF, 0x0F, 0xF0}, {BPF_LSH, 1, 31, 0x80000000},  {BPF_RSH, 0x80000000, 31, 1},
  };
  for (const Case& c : cases) {
    Prog with_k = {BPF_STMT(BPF_LD | BPF_IMM, c.a), BPF_STMT(BPF_ALU | c.op | BPF_K, c.k),
                   BPF_STMT(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(ret_of(with_k), c.want) << "op " << c.op << " k";
    Prog with_x = {BPF_STMT(BPF_LDX | BPF_IMM, c.k), BPF_STMT(BPF_LD | BPF_IMM, c.a),
                   BPF_STMT(BPF_ALU | c.op | BPF_X, 0), BPF_STMT(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(ret_of(with_x), c.want) << "op " << c.op << " x";
  }
  Prog neg = {BPF_STMT(BPF_LD | BPF_IMM, 1), BPF_STMT(BPF_ALU | BPF_NEG, 0),
              BPF_STMT(BPF_RET | BPF_A, 0)};
  EXPECT_EQ(ret_of(neg), 0xFFFFFFFFu);
  // Division by an X of zero ends the program with 0, as the kernel's
  // translation of classic BPF does.
  Prog div0 = {BPF_STMT(BPF_LDX | BPF_IMM, 0), BPF_STMT(BPF_LD | BPF_IMM, 5),
               BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0), BPF_STMT(BPF_RET | BPF_K, 77)};
  EXPECT_EQ(ret_of(div0), 0u);
}

TEST(SeccompBpf, LoadsScratchMemoryAndRegisters) {
  SeccompData d;
  d.nr = 59;
  d.arch = AUDIT_ARCH_X86_64;
  d.instruction_pointer = 0x1122334455667788ull;
  d.args = {0xAAAAAAAABBBBBBBBull, 2, 3, 4, 5, 0x6666666677777777ull};
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_STMT(BPF_RET | BPF_A, 0)}, d), 59u);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4), BPF_STMT(BPF_RET | BPF_A, 0)}, d),
            AUDIT_ARCH_X86_64);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8), BPF_STMT(BPF_RET | BPF_A, 0)}, d),
            0x55667788u);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgLo0), BPF_STMT(BPF_RET | BPF_A, 0)}, d),
            0xBBBBBBBBu);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgHi0), BPF_STMT(BPF_RET | BPF_A, 0)}, d),
            0xAAAAAAAAu);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 60), BPF_STMT(BPF_RET | BPF_A, 0)}, d),
            0x66666666u);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_RET | BPF_A, 0)}), 64u);
  EXPECT_EQ(ret_of({BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_MISC | BPF_TXA, 0),
                    BPF_STMT(BPF_RET | BPF_A, 0)}),
            64u);
  // A -> M[3] -> X -> M[15] -> A.
  Prog mem = {BPF_STMT(BPF_LD | BPF_IMM, 1234),
              BPF_STMT(BPF_ST, 3),
              BPF_STMT(BPF_LD | BPF_IMM, 0),
              BPF_STMT(BPF_LDX | BPF_MEM, 3),
              BPF_STMT(BPF_STX, 15),
              BPF_STMT(BPF_LD | BPF_MEM, 15),
              BPF_STMT(BPF_MISC | BPF_TAX, 0),
              BPF_STMT(BPF_MISC | BPF_TXA, 0),
              BPF_STMT(BPF_RET | BPF_A, 0)};
  auto r = run_filter(mem, d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ret, 1234u);
  EXPECT_EQ(r->instructions, mem.size());
}

TEST(SeccompBpf, JumpsAndInstructionCounts) {
  // jeq/jgt/jge/jset against K and X; each returns the number of the branch taken.
  auto branch = [](uint16_t op, uint32_t a, uint32_t k, bool use_x) {
    Prog p = {BPF_STMT(BPF_LDX | BPF_IMM, k), BPF_STMT(BPF_LD | BPF_IMM, a),
              BPF_JUMP(BPF_JMP | op | (use_x ? BPF_X : BPF_K), use_x ? 0 : k, 1, 0),
              BPF_STMT(BPF_RET | BPF_K, 0), BPF_STMT(BPF_RET | BPF_K, 1)};
    auto r = run_filter(p, {});
    EXPECT_TRUE(r);
    return r ? r->ret : 99;
  };
  for (bool x : {false, true}) {
    EXPECT_EQ(branch(BPF_JEQ, 5, 5, x), 1u);
    EXPECT_EQ(branch(BPF_JEQ, 5, 6, x), 0u);
    EXPECT_EQ(branch(BPF_JGT, 6, 5, x), 1u);
    EXPECT_EQ(branch(BPF_JGT, 5, 5, x), 0u);
    EXPECT_EQ(branch(BPF_JGE, 5, 5, x), 1u);
    EXPECT_EQ(branch(BPF_JGE, 4, 5, x), 0u);
    EXPECT_EQ(branch(BPF_JSET, 6, 2, x), 1u);
    EXPECT_EQ(branch(BPF_JSET, 5, 2, x), 0u);
    EXPECT_EQ(branch(BPF_JGT, 0x80000000, 1, x), 1u);  // unsigned
  }
  Prog ja = {BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0), BPF_STMT(BPF_RET | BPF_K, 1),
             BPF_STMT(BPF_RET | BPF_K, 2), BPF_STMT(BPF_RET | BPF_K, 3)};
  auto r = run_filter(ja, {});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ret, 3u);
  EXPECT_EQ(r->instructions, 2u);
}

struct Invalid {
  const char* what;
  Prog prog;
};

std::vector<Invalid> invalid_programs() {
  const struct sock_filter ret = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  std::vector<Invalid> v = {
      {"empty", {}},
      {"too long", Prog(BPF_MAXINSNS + 1, ret)},
      {"ja past the end", {BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0), ret}},
      {"jeq past the end", {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret}},
      {"load past seccomp_data", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ret}},
      {"unaligned load", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), ret}},
      {"byte load", {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ret}},
      {"indirect load", {BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0), ret}},
      {"modulo", {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ret}},
      {"scratch word 16", {BPF_STMT(BPF_ST, 16), ret}},
      {"read before store", {BPF_STMT(BPF_LD | BPF_MEM, 2), ret}},
      {"store on one path only",
       {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), BPF_STMT(BPF_ST, 1),
        BPF_STMT(BPF_LD | BPF_MEM, 1), ret}},
      {"division by constant 0", {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ret}},
      {"shift by 32", {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), ret}},
      {"no return at the end", {ret, BPF_STMT(BPF_LD | BPF_IMM, 0)}},
      {"msh", {BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0), ret}},
  };
  return v;
}

TEST(SeccompBpf, CheckerRefusesWhatTheKernelRefuses) {
  for (const Invalid& c : invalid_programs()) {
    EXPECT_FALSE(check_filter(c.prog)) << c.what;
    EXPECT_FALSE(run_filter(c.prog, {})) << c.what;
    if (c.prog.empty()) continue;
    int status = testing::in_child([&] { return testing::install(c.prog); });
    ASSERT_TRUE(WIFEXITED(status)) << c.what;
    EXPECT_EQ(WEXITSTATUS(status), EINVAL) << c.what << ": the kernel should refuse it too";
  }
  // A program using every kind of instruction the checker accepts, which the
  // kernel accepts too (it allows everything, so the child exits normally).
  Prog all = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
              BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
              BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
              BPF_STMT(BPF_LD | BPF_IMM, 1),
              BPF_STMT(BPF_LDX | BPF_IMM, 2),
              BPF_STMT(BPF_ST, 0),
              BPF_STMT(BPF_STX, 1),
              BPF_STMT(BPF_LD | BPF_MEM, 0),
              BPF_STMT(BPF_LDX | BPF_MEM, 1),
              BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
              BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 3),
              BPF_STMT(BPF_ALU | BPF_NEG, 0),
              BPF_STMT(BPF_MISC | BPF_TAX, 0),
              BPF_STMT(BPF_MISC | BPF_TXA, 0),
              BPF_JUMP(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 0),
              BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0),
              BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  ASSERT_TRUE(check_filter(all));
  int status = testing::in_child([&] { return testing::install(all); });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// The interpreter computes what the kernel computes: a filter that turns
// getppid's argument into an errno through ALU steps, run by the kernel in
// a child and by the interpreter here.
TEST(SeccompBpf, InterpreterAgreesWithTheKernel) {
  Prog p = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgLo0),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x3F),
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgHi0),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 2),
      BPF_STMT(BPF_MISC | BPF_TXA, 0),
      BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0),
      BPF_STMT(BPF_MISC | BPF_TXA, 0),
      BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 3),
      BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
      BPF_STMT(BPF_ST, 4),
      BPF_STMT(BPF_LDX | BPF_MEM, 4),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 100, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 100),
      BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  ASSERT_TRUE(check_filter(p));
  const uint64_t inputs[] = {0, 1, 7, 33, 63, 64, 0x100000005ull, 0x20000003Full, 0x10000003Eull};
  for (uint64_t v : inputs) {
    SeccompData d;
    d.nr = SYS_getppid;
    d.arch = AUDIT_ARCH_X86_64;
    d.args[0] = v;
    uint32_t want = run_checked_filter(p, d).ret;
    ASSERT_EQ(want & SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ERRNO);
    int status = testing::in_child([&] {
      if (testing::install(p) != 0) return 255;
      long rc = syscall(SYS_getppid, v, 0, 0, 0, 0, 0);
      return rc == -1 ? errno : 254;
    });
    ASSERT_TRUE(WIFEXITED(status)) << std::hex << v;
    EXPECT_EQ(static_cast<uint32_t>(WEXITSTATUS(status)), want & SECCOMP_RET_DATA)
        << "arg0 " << std::hex << v;
  }
}

TEST(SeccompBpf, Disassembly) {
  Prog p = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 3, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 28),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xFF),
      BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  EXPECT_EQ(disassemble(p),
            "0000: ld [arch]\n"
            "0001: jeq #0xc000003e, 0002, 0007\n"
            "0002: ld [nr]\n"
            "0003: jge #0x40000000, 0007, 0004\n"
            "0004: ld [args[1] hi]\n"
            "0005: and #0xff\n"
            "0006: ja 0007\n"
            "0007: ret ERRNO(1)\n"
            "0008: ret ALLOW\n");
  EXPECT_EQ(disassemble({BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 40), BPF_STMT(BPF_RET | BPF_A, 0),
                         BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)}),
            "0000: ld [args[3] lo]\n0001: ret a\n0002: ret KILL_PROCESS\n");
}

TEST(SeccompBpf, ActionNames) {
  EXPECT_EQ(describe_action(SECCOMP_RET_ALLOW), "allow");
  EXPECT_EQ(describe_action(SECCOMP_RET_ERRNO | 1), "errno 1 (EPERM)");
  EXPECT_EQ(describe_action(SECCOMP_RET_ERRNO | ENOSYS), "errno 38 (ENOSYS)");
  EXPECT_EQ(describe_action(SECCOMP_RET_KILL_PROCESS), "kill process");
  EXPECT_EQ(describe_action(SECCOMP_RET_KILL_THREAD), "kill thread");
  EXPECT_EQ(describe_action(SECCOMP_RET_TRAP), "trap");
  EXPECT_EQ(describe_action(SECCOMP_RET_TRACE | 5), "trace 5");
  EXPECT_EQ(describe_action(SECCOMP_RET_LOG), "log");
  EXPECT_EQ(describe_action(SECCOMP_RET_USER_NOTIF), "user-notif");
}

TEST(SeccompBpf, AuditArchitectures) {
  EXPECT_EQ(audit_arch("SCMP_ARCH_X86_64"), AUDIT_ARCH_X86_64);
  EXPECT_EQ(audit_arch("SCMP_ARCH_X32"), AUDIT_ARCH_X86_64);  // with bit 30 in nr
  EXPECT_EQ(audit_arch("SCMP_ARCH_X86"), AUDIT_ARCH_I386);
  EXPECT_EQ(audit_arch("SCMP_ARCH_AARCH64"), AUDIT_ARCH_AARCH64);
  EXPECT_EQ(audit_arch("SCMP_ARCH_ARM"), AUDIT_ARCH_ARM);
  EXPECT_EQ(audit_arch("SCMP_ARCH_RISCV64"), AUDIT_ARCH_RISCV64);
  EXPECT_EQ(audit_arch("SCMP_ARCH_PPC64LE"), AUDIT_ARCH_PPC64LE);
  EXPECT_EQ(audit_arch("SCMP_ARCH_S390X"), AUDIT_ARCH_S390X);
  EXPECT_EQ(audit_arch("SCMP_ARCH_MIPSEL64N32"), AUDIT_ARCH_MIPSEL64N32);
  EXPECT_EQ(audit_arch("SCMP_ARCH_VAX"), 0u);
  EXPECT_EQ(audit_arch("x86_64"), 0u);
}

}  // namespace
}  // namespace bw::seccomp
