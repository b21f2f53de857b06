// Small file helpers. Every fd opened here is O_CLOEXEC.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace bw {

// Opens relative to a directory fd (AT_FDCWD for the cwd); O_CLOEXEC is always added.
Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0);

Result<std::string> read_file(const std::string& path);
Result<std::string> read_fd(int fd);
Result<void> write_all(int fd, std::string_view data);

// Writes `data` to dirfd/name atomically: temp file, fsync, renameat, fsync
// of the directory. Durability::volatile_ skips the fsyncs (the rename is
// still atomic) for state that does not outlive a boot, such as /run.
enum class Durability { durable, volatile_ };
Result<void> write_file_atomic(int dirfd, const std::string& name, std::string_view data,
                               mode_t mode = 0644, Durability d = Durability::durable);
Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                               Durability d = Durability::durable);

// Writes to an existing file (procfs/sysfs knobs) in one write() call.
Result<void> write_existing(const std::string& path, std::string_view data);

// Removes a directory tree without following symlinks.
Result<void> remove_tree_at(int dirfd, const std::string& name);

}  // namespace bw
