// The GRUB environment block (grubenv): the file GRUB's load_env/save_env
// and grub-editenv read and write, and the boot counter kept in it.
//
// The format is GRUB's (grub-core/lib/envblk.c): exactly 1024 bytes, the line
// "# GRUB Environment Block\n", then "name=value\n" lines, then '#' up to
// 1024 bytes. In a value, '\' and newline are written with a '\' before them.
// Lines starting with '#' are comments (grub-editenv writes a warning line
// after the header; the padding is one long comment). The size never changes
// because GRUB's save_env rewrites the file's blocks in place: it cannot
// allocate.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace bw::update {

inline constexpr size_t kGrubEnvSize = 1024;
inline constexpr std::string_view kGrubEnvHeader = "# GRUB Environment Block\n";

// The variables of a block, in file order (set() keeps a variable where it
// is and appends a new one, as grub-editenv does, so a rewrite touches
// nothing but what was changed). Comment lines are not kept.
class GrubEnv {
 public:
  using Var = std::pair<std::string, std::string>;

  std::optional<std::string> get(std::string_view name) const;
  // Refuses a name GRUB could not read back: empty, starting with '#', or
  // holding '=', a newline or a NUL; and a value holding a NUL.
  Result<void> set(std::string_view name, std::string_view value);
  // Returns whether the variable was there.
  bool unset(std::string_view name);

  const std::vector<Var>& vars() const { return vars_; }
  bool empty() const { return vars_.empty(); }

  // The 1024-byte block; an error when the variables do not fit.
  Result<std::string> serialize() const;

 private:
  std::vector<Var> vars_;
};

// Parses a block. `origin` names it in errors ("'/boot/grub/grubenv': ...").
// Refused: a size other than 1024, a missing header, a line that is not a
// comment or name=value, a variable running past the end of the block
// (content longer than 1024 bytes), a NUL in a name or value. A name set twice
// keeps the last value, as load_env would.
Result<GrubEnv> parse_grubenv(std::string_view data, const std::string& origin);

// Reads a block; a missing file is an empty environment (GRUB treats it so).
Result<GrubEnv> read_grubenv(const std::string& path);

// Writes a block atomically (temp file, fsync, rename, fsync of the
// directory); refused, leaving the file as it was, when it would not fit.
Result<void> write_grubenv(const std::string& path, const GrubEnv& env);

// --- Boot counting (see updater/BOOT-COUNTING.md and
// image-build/grub/boot-counting.cfg, the GRUB side) ---

inline constexpr std::string_view kBootCounterVar = "bulwark_boot_counter";
inline constexpr std::string_view kBootSuccessVar = "bulwark_boot_success";
// GRUB has no arithmetic, so its script spells out each decrement: 1..9.
inline constexpr int kMaxBootAttempts = 9;

// After deploying: bulwark_boot_counter=attempts, bulwark_boot_success=0.
// GRUB then boots the new default entry `attempts` times before it falls
// back to entry 1. Refuses attempts outside 1..kMaxBootAttempts. Every other
// variable of the block is kept as it is.
Result<void> arm_boot_counter(const std::string& path, int attempts);

// After a good boot verdict: bulwark_boot_success=1 and no
// bulwark_boot_counter, so GRUB leaves the default entry alone. Writes
// nothing when the block is already in that state.
Result<void> mark_boot_good(const std::string& path);

// After a rollback (automatic or manual): no bulwark_boot_counter, so GRUB
// stops counting. Left armed, the counter would run down on the deployment
// rolled back to (now entry 0) and then boot entry 1, the one that failed.
// bulwark_boot_success is left as it is. Writes nothing when there is no
// counter.
Result<void> disarm_boot_counter(const std::string& path);

struct BootCounterState {
  // Boots left before GRUB falls back: nullopt when no counter is armed;
  // 0 when GRUB has used them all (this boot is the fallback, or the last
  // attempt if the verdict is still to come).
  std::optional<int> counter;
  bool success = false;  // bulwark_boot_success=1
};

// Reads the counter. A counter that is not a number in 0..kMaxBootAttempts
// is an error naming the file and the value (GRUB's script treats it as 0).
Result<BootCounterState> boot_counter_state(const std::string& path);

}  // namespace bw::update
