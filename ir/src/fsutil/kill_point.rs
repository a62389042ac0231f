//! Named crash points for the kill tests. `LLC_KILL_AT=NAME` (or `NAME@N`) makes the
//! process SIGKILL itself the first (or `N`-th) time it passes [`kill_point`]`(NAME)`:
//! no destructor, flush or cleanup runs, exactly as when the machine or an operator kills
//! the run there. Unset (every normal run), a point costs one load of a cached `None`.
//!
//! The points sit between the durable effects of checkpoint writing (`fsutil`'s atomic
//! files and directory replacement, the checkpoint manager's files, pointer and pruning)
//! and of the training loop (step, metrics line, evaluation, save); the list a test can
//! name is [`KILL_POINTS`]. `tests/integration/train_cli.rs` kills a run at each one and
//! checks that every checkpoint left on disk loads and that `--resume` continues bit for
//! bit.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the point to die at.
pub const KILL_AT_ENV: &str = "LLC_KILL_AT";

/// Every crash point, in the order a checkpoint save and a training step pass them.
pub const KILL_POINTS: &[&str] = &[
    // fsutil::write_atomic / AtomicFile::commit
    "atomic.written",
    "atomic.synced",
    "atomic.renamed",
    // fsutil::write_synced
    "synced.written",
    // fsutil::replace_dir
    "replace_dir.tmp_created",
    "replace_dir.filled",
    "replace_dir.old_moved",
    "replace_dir.renamed",
    "replace_dir.old_removed",
    // checkpoint::CheckpointManager::save
    "checkpoint.config_written",
    "checkpoint.model_written",
    "checkpoint.optimizer_written",
    "checkpoint.state_written",
    "checkpoint.dir_done",
    "checkpoint.latest_written",
    "checkpoint.prune_renamed",
    "checkpoint.prune_deleted",
    "checkpoint.saved",
    // llc_trainer::Trainer::run
    "train.batch_read",
    "train.stepped",
    "train.evaluated",
    "train.metrics_written",
    "train.saved",
    // llc_trainer::ppo::PpoTrainer
    "ppo.drawn",
    "ppo.updated",
    "ppo.metrics_written",
];

struct Target {
    name: String,
    hit: u64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var(KILL_AT_ENV).ok()?;
            let (name, hit) = match spec.split_once('@') {
                Some((n, h)) => (n.to_string(), h.parse().ok()?),
                None => (spec, 1),
            };
            Some(Target { name, hit })
        })
        .as_ref()
}

/// Passes the crash point `name` (one of [`KILL_POINTS`]); see the module docs.
pub fn kill_point(name: &str) {
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some(t) = target() else { return };
    debug_assert!(KILL_POINTS.contains(&name), "unlisted kill point {name}");
    if t.name != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != t.hit {
        return;
    }
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    // `kill` is not there or failed: die without cleanup all the same.
    std::process::abort();
}
