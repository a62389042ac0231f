//! A watchdog on blocking collectives: if one has not returned within the timeout, the
//! process prints which rank waited on what, and for how long, and exits with status 75,
//! so a dead or stuck peer ends the run instead of hanging it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Seconds a collective may take before the process gives up (when the environment does
/// not say otherwise through [`TIMEOUT_ENV`]).
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Environment variable overriding the timeout, in seconds (0 disables the watchdog).
pub const TIMEOUT_ENV: &str = "LLC_COLLECTIVE_TIMEOUT";
/// Exit status of a process the watchdog ends.
pub const EXIT_STATUS: i32 = 75;

/// Watches one rank's collectives from a background thread.
#[derive(Debug)]
pub struct Watchdog {
    /// Milliseconds since `epoch` at which the current collective started; 0 when none.
    started_ms: Arc<AtomicU64>,
    what: Arc<Mutex<String>>,
    epoch: Instant,
    timeout: Duration,
}

impl Watchdog {
    /// Start the watchdog thread for `rank`, with the timeout of [`TIMEOUT_ENV`] or
    /// [`DEFAULT_TIMEOUT_SECS`]. `None` when the timeout is 0 (disabled).
    pub fn from_env(rank: usize) -> Option<Watchdog> {
        let secs = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .unwrap_or(DEFAULT_TIMEOUT_SECS as f64);
        if secs <= 0.0 {
            return None;
        }
        Some(Watchdog::start(rank, Duration::from_secs_f64(secs)))
    }

    /// Start watching with this timeout.
    pub fn start(rank: usize, timeout: Duration) -> Watchdog {
        let started_ms = Arc::new(AtomicU64::new(0));
        let what = Arc::new(Mutex::new(String::new()));
        let epoch = Instant::now();
        let (s, w) = (started_ms.clone(), what.clone());
        let tick = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        std::thread::Builder::new()
            .name("llc-collective-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(tick);
                    let at = s.load(Ordering::Acquire);
                    if at == 0 {
                        continue;
                    }
                    let waited = epoch.elapsed().saturating_sub(Duration::from_millis(at - 1));
                    if waited >= timeout {
                        let what = w.lock().map(|g| g.clone()).unwrap_or_default();
                        eprintln!(
                            "error: rank {rank}: {what} did not complete within {:.1} s: another rank died or stopped responding; exiting (set {TIMEOUT_ENV} to change the timeout)",
                            timeout.as_secs_f64()
                        );
                        std::process::exit(EXIT_STATUS);
                    }
                }
            })
            .expect("spawn the collective watchdog thread");
        Watchdog {
            started_ms,
            what,
            epoch,
            timeout,
        }
    }

    /// The timeout this watchdog enforces.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Run `f` (a blocking collective described by `what`) under the watchdog.
    pub fn guard<R>(&self, what: impl FnOnce() -> String, f: impl FnOnce() -> R) -> R {
        if let Ok(mut g) = self.what.lock() {
            *g = what();
        }
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.started_ms.store(now, Ordering::Release);
        let r = f();
        self.started_ms.store(0, Ordering::Release);
        r
    }
}
