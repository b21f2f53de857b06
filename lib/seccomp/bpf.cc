// Classic BPF as seccomp allows it: a checker and interpreter that follow the
// kernel's seccomp_check_filter()/bpf_check_classic() rules, a disassembler,
// and names for return values and architectures.
#include "seccomp/bpf.h"

#include <linux/audit.h>
#include <linux/seccomp.h>

#include <cstring>

#include "seccomp/internal.h"

namespace bw::seccomp {

namespace {

// seccomp_data as the kernel lays it out: nr, arch, instruction_pointer, args[6].
constexpr uint32_t kDataSize = 64;
constexpr uint32_t kMemWords = 16;

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

bool is_alu_op(uint16_t op) {
  switch (op) {
    case BPF_ADD:
    case BPF_SUB:
    case BPF_MUL:
    case BPF_DIV:
    case BPF_AND:
    case BPF_OR:
    case BPF_XOR:
    case BPF_LSH:
    case BPF_RSH:
      return true;
    default:
      return false;
  }
}

// Whether `code` is one of the instructions seccomp_check_filter() accepts.
// The kernel's list has no BPF_MOD, no byte or half-word loads, no indirect
// loads and no BPF_MSH.
bool allowed_code(uint16_t code) {
  switch (BPF_CLASS(code)) {
    case BPF_LD:
      return code == (BPF_LD | BPF_W | BPF_ABS) || code == (BPF_LD | BPF_W | BPF_LEN) ||
             code == (BPF_LD | BPF_IMM) || code == (BPF_LD | BPF_MEM);
    case BPF_LDX:
      return code == (BPF_LDX | BPF_W | BPF_LEN) || code == (BPF_LDX | BPF_IMM) ||
             code == (BPF_LDX | BPF_MEM);
    case BPF_ST:
      return code == BPF_ST;
    case BPF_STX:
      return code == BPF_STX;
    case BPF_ALU:
      if (code == (BPF_ALU | BPF_NEG)) return true;
      return is_alu_op(BPF_OP(code)) && (code & ~0xf0 & ~BPF_X) == BPF_ALU;
    case BPF_JMP:
      if (code == (BPF_JMP | BPF_JA)) return true;
      switch (BPF_OP(code)) {
        case BPF_JEQ:
        case BPF_JGT:
        case BPF_JGE:
        case BPF_JSET:
          return (code & ~0xf0 & ~BPF_X) == BPF_JMP;
        default:
          return false;
      }
    case BPF_RET:
      return code == (BPF_RET | BPF_K) || code == (BPF_RET | BPF_A);
    case BPF_MISC:
      return code == (BPF_MISC | BPF_TAX) || code == (BPF_MISC | BPF_TXA);
    default:
      return false;
  }
}

}  // namespace

Result<void> check_filter(const std::vector<struct sock_filter>& prog) {
  size_t n = prog.size();
  if (n == 0 || n > BPF_MAXINSNS)
    return make_error(EINVAL, "BPF program has %zu instructions (1-%d allowed)", n, BPF_MAXINSNS);
  for (size_t pc = 0; pc < n; ++pc) {
    const struct sock_filter& f = prog[pc];
    if (!allowed_code(f.code))
      return make_error(EINVAL, "instruction %zu: opcode %#x is not allowed in a seccomp filter",
                        pc, f.code);
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (f.k >= kDataSize || f.k % 4 != 0)
          return make_error(EINVAL, "instruction %zu: load from offset %u outside seccomp_data", pc,
                            f.k);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (f.k >= kMemWords)
          return make_error(EINVAL, "instruction %zu: scratch word M[%u] out of range", pc, f.k);
        break;
      case BPF_ALU | BPF_DIV | BPF_K:
        if (f.k == 0) return make_error(EINVAL, "instruction %zu: division by constant 0", pc);
        break;
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (f.k >= 32) return make_error(EINVAL, "instruction %zu: shift by %u", pc, f.k);
        break;
      case BPF_JMP | BPF_JA:
        if (f.k >= n - pc - 1)
          return make_error(EINVAL, "instruction %zu: ja +%u jumps past the end", pc, f.k);
        break;
      default:
        if (BPF_CLASS(f.code) == BPF_JMP && (pc + 1 + f.jt >= n || pc + 1 + f.jf >= n))
          return make_error(EINVAL, "instruction %zu: jump past the end", pc);
        break;
    }
  }
  if (BPF_CLASS(prog[n - 1].code) != BPF_RET)
    return make_error(EINVAL, "the last instruction (%zu) is not a return", n - 1);

  // As the kernel's check_load_and_stores(): no path may read a scratch word
  // it has not stored.
  std::vector<uint16_t> valid_at(n, 0xFFFF);
  valid_at[0] = 0;
  uint16_t valid = 0;
  for (size_t pc = 0; pc < n; ++pc) {
    const struct sock_filter& f = prog[pc];
    valid &= valid_at[pc];
    switch (f.code) {
      case BPF_ST:
      case BPF_STX:
        valid |= static_cast<uint16_t>(1u << f.k);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if (!(valid & (1u << f.k)))
          return make_error(EINVAL, "instruction %zu: reads M[%u] before any store", pc, f.k);
        break;
      case BPF_JMP | BPF_JA:
        valid_at[pc + 1 + f.k] &= valid;
        valid = 0xFFFF;
        break;
      default:
        if (BPF_CLASS(f.code) == BPF_JMP) {
          valid_at[pc + 1 + f.jt] &= valid;
          valid_at[pc + 1 + f.jf] &= valid;
          valid = 0xFFFF;
        } else if (BPF_CLASS(f.code) == BPF_RET) {
          valid = 0xFFFF;
        }
        break;
    }
  }
  return {};
}

namespace {

void data_bytes(const SeccompData& d, unsigned char* out) {
  struct seccomp_data sd {};
  sd.nr = d.nr;
  sd.arch = d.arch;
  sd.instruction_pointer = d.instruction_pointer;
  for (size_t i = 0; i < 6; ++i) sd.args[i] = d.args[i];
  static_assert(sizeof sd == kDataSize);
  std::memcpy(out, &sd, sizeof sd);
}

// "nr", "arch", "ip", "ip hi", "args[2] lo", "args[2] hi"; the low word of a
// 64-bit field is the one at the lower offset on a little-endian machine.
std::string field_name(uint32_t off) {
  if (off == 0) return "nr";
  if (off == 4) return "arch";
  bool high_half = ((off % 8) == 4) == kLittleEndian;
  if (off < 16) return high_half ? "ip hi" : "ip";
  return strf("args[%u] %s", (off - 16) / 8, high_half ? "hi" : "lo");
}

std::string ret_name(uint32_t ret) {
  uint32_t data = ret & SECCOMP_RET_DATA;
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS:
      return "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD:
      return "KILL_THREAD";
    case SECCOMP_RET_TRAP:
      return data ? strf("TRAP(%u)", data) : "TRAP";
    case SECCOMP_RET_ERRNO:
      return strf("ERRNO(%u)", data);
    case SECCOMP_RET_USER_NOTIF:
      return "USER_NOTIF";
    case SECCOMP_RET_TRACE:
      return strf("TRACE(%u)", data);
    case SECCOMP_RET_LOG:
      return "LOG";
    case SECCOMP_RET_ALLOW:
      return "ALLOW";
    default:
      return strf("%#x", ret);
  }
}

const char* alu_name(uint16_t op) {
  switch (op) {
    case BPF_ADD:
      return "add";
    case BPF_SUB:
      return "sub";
    case BPF_MUL:
      return "mul";
    case BPF_DIV:
      return "div";
    case BPF_AND:
      return "and";
    case BPF_OR:
      return "or";
    case BPF_XOR:
      return "xor";
    case BPF_LSH:
      return "lsh";
    case BPF_RSH:
      return "rsh";
    default:
      return "alu?";
  }
}

const char* jmp_name(uint16_t op) {
  switch (op) {
    case BPF_JEQ:
      return "jeq";
    case BPF_JGT:
      return "jgt";
    case BPF_JGE:
      return "jge";
    case BPF_JSET:
      return "jset";
    default:
      return "j?";
  }
}

}  // namespace

Result<RunResult> run_filter(const std::vector<struct sock_filter>& prog, const SeccompData& d) {
  BW_RETURN_IF_ERROR(check_filter(prog));
  return run_checked_filter(prog, d);
}

RunResult run_checked_filter(const std::vector<struct sock_filter>& prog, const SeccompData& d) {
  unsigned char data[kDataSize];
  data_bytes(d, data);
  uint32_t a = 0, x = 0;
  uint32_t mem[kMemWords] = {};
  RunResult r;
  size_t pc = 0;
  // Jumps only go forward, so this ends after at most prog.size() steps.
  for (;;) {
    const struct sock_filter& f = prog[pc];
    ++r.instructions;
    uint32_t src = (f.code & BPF_X) ? x : f.k;
    switch (BPF_CLASS(f.code)) {
      case BPF_LD:
        if (f.code == (BPF_LD | BPF_W | BPF_ABS))
          std::memcpy(&a, data + f.k, 4);
        else if (f.code == (BPF_LD | BPF_W | BPF_LEN))
          a = kDataSize;
        else if (f.code == (BPF_LD | BPF_IMM))
          a = f.k;
        else
          a = mem[f.k];
        break;
      case BPF_LDX:
        if (f.code == (BPF_LDX | BPF_W | BPF_LEN))
          x = kDataSize;
        else if (f.code == (BPF_LDX | BPF_IMM))
          x = f.k;
        else
          x = mem[f.k];
        break;
      case BPF_ST:
        mem[f.k] = a;
        break;
      case BPF_STX:
        mem[f.k] = x;
        break;
      case BPF_ALU:
        switch (BPF_OP(f.code)) {
          case BPF_ADD:
            a += src;
            break;
          case BPF_SUB:
            a -= src;
            break;
          case BPF_MUL:
            a *= src;
            break;
          case BPF_DIV:
            // The kernel's translation of classic BPF ends the program with
            // 0 (SECCOMP_RET_KILL_THREAD) on a division by X == 0.
            if (src == 0) {
              r.ret = 0;
              return r;
            }
            a /= src;
            break;
          case BPF_AND:
            a &= src;
            break;
          case BPF_OR:
            a |= src;
            break;
          case BPF_XOR:
            a ^= src;
            break;
          case BPF_LSH:
            a = (src & 31) ? a << (src & 31) : a;
            break;
          case BPF_RSH:
            a = (src & 31) ? a >> (src & 31) : a;
            break;
          case BPF_NEG:
            a = 0u - a;
            break;
        }
        break;
      case BPF_JMP:
        if (BPF_OP(f.code) == BPF_JA) {
          pc += 1 + f.k;
          continue;
        } else {
          bool taken = false;
          switch (BPF_OP(f.code)) {
            case BPF_JEQ:
              taken = a == src;
              break;
            case BPF_JGT:
              taken = a > src;
              break;
            case BPF_JGE:
              taken = a >= src;
              break;
            case BPF_JSET:
              taken = (a & src) != 0;
              break;
          }
          pc += 1 + (taken ? f.jt : f.jf);
          continue;
        }
      case BPF_RET:
        r.ret = f.code == (BPF_RET | BPF_A) ? a : f.k;
        return r;
      case BPF_MISC:
        if (f.code == (BPF_MISC | BPF_TAX))
          x = a;
        else
          a = x;
        break;
    }
    ++pc;
  }
}

std::string disassemble(const std::vector<struct sock_filter>& prog) {
  std::string out;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const struct sock_filter& f = prog[pc];
    std::string text;
    std::string src = (f.code & BPF_X) ? "x" : strf("#%#x", f.k);
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        text = "ld [" + field_name(f.k) + "]";
        break;
      case BPF_LD | BPF_W | BPF_LEN:
        text = "ld #len";
        break;
      case BPF_LDX | BPF_W | BPF_LEN:
        text = "ldx #len";
        break;
      case BPF_LD | BPF_IMM:
        text = strf("ld #%#x", f.k);
        break;
      case BPF_LDX | BPF_IMM:
        text = strf("ldx #%#x", f.k);
        break;
      case BPF_LD | BPF_MEM:
        text = strf("ld M[%u]", f.k);
        break;
      case BPF_LDX | BPF_MEM:
        text = strf("ldx M[%u]", f.k);
        break;
      case BPF_ST:
        text = strf("st M[%u]", f.k);
        break;
      case BPF_STX:
        text = strf("stx M[%u]", f.k);
        break;
      case BPF_MISC | BPF_TAX:
        text = "tax";
        break;
      case BPF_MISC | BPF_TXA:
        text = "txa";
        break;
      case BPF_ALU | BPF_NEG:
        text = "neg";
        break;
      case BPF_JMP | BPF_JA:
        text = strf("ja %04zu", pc + 1 + f.k);
        break;
      case BPF_RET | BPF_K:
        text = "ret " + ret_name(f.k);
        break;
      case BPF_RET | BPF_A:
        text = "ret a";
        break;
      default:
        if (!allowed_code(f.code)) {
          text = strf(".insn code=%#x jt=%u jf=%u k=%#x", f.code, f.jt, f.jf, f.k);
        } else if (BPF_CLASS(f.code) == BPF_ALU) {
          text = strf("%s %s", alu_name(BPF_OP(f.code)), src.c_str());
        } else {
          text = strf("%s %s, %04zu, %04zu", jmp_name(BPF_OP(f.code)), src.c_str(), pc + 1 + f.jt,
                      pc + 1 + f.jf);
        }
        break;
    }
    out += strf("%04zu: %s\n", pc, text.c_str());
  }
  return out;
}

std::string describe_action(uint32_t ret) {
  uint32_t data = ret & SECCOMP_RET_DATA;
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS:
      return "kill process";
    case SECCOMP_RET_KILL_THREAD:
      return "kill thread";
    case SECCOMP_RET_TRAP:
      return data ? strf("trap %u", data) : "trap";
    case SECCOMP_RET_ERRNO: {
      const char* name = strerrorname_np(static_cast<int>(data));
      return name ? strf("errno %u (%s)", data, name) : strf("errno %u", data);
    }
    case SECCOMP_RET_USER_NOTIF:
      return "user-notif";
    case SECCOMP_RET_TRACE:
      return strf("trace %u", data);
    case SECCOMP_RET_LOG:
      return "log";
    case SECCOMP_RET_ALLOW:
      return "allow";
    default:
      return strf("unknown action %#x", ret);
  }
}

uint32_t audit_arch(const std::string& oci_arch) {
  uint32_t token = detail::arch_token(oci_arch);
  // libseccomp's tokens are the kernel's AUDIT_ARCH_* values, except for x32,
  // whose processes run under AUDIT_ARCH_X86_64 with bit 30 set in the
  // syscall number.
  if (token == detail::arch_token("SCMP_ARCH_X32") && token != 0) return AUDIT_ARCH_X86_64;
  return token;
}

}  // namespace bw::seccomp
