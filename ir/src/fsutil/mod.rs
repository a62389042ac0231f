//! Crash-safe output, one home for every writer (the compiler's artifact directory, the
//! trainer's checkpoints, data shards, metrics, the CLI's files): a file or a directory
//! is built under a temporary name next to its destination and renamed over it only
//! when complete, so a reader (or a run restarted after SIGKILL) sees the old version or
//! the whole new one, never a torn write.

mod atomic_file;
mod kill_point;
mod replace_dir;

pub use atomic_file::{AtomicFile, fsync_dir, parent_dir, write_atomic, write_synced};
pub use kill_point::{KILL_AT_ENV, KILL_POINTS, kill_point};
pub use replace_dir::{FsError, replace_dir};
