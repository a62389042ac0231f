//! Collectives between the ranks of a data-parallel run: the [`Communicator`] the
//! interpreter and the trainer execute `all_reduce` through.
//!
//! - [`SingleRank`]: a world of one; `all_reduce` leaves the buffer as it is.
//! - [`MpiComm`] (feature `mpi`): MPI's `MPI_COMM_WORLD` over the `mpi` crate (Debian
//!   OpenMPI), for processes launched by `mpirun -np N`.
//!
//! [`from_env`] picks one: MPI when the process was started by an MPI launcher (it sets
//! `OMPI_COMM_WORLD_SIZE`, or `PMI_SIZE`/`PMIX_RANK` for other launchers), else a single rank.
//!
//! A rank that dies must not leave the others waiting forever: mpirun aborts the whole
//! job when one process exits abnormally, and every MPI collective also runs under a
//! watchdog ([`Watchdog`]) that ends the process with a message naming the rank, the
//! collective and the timeout when it has not returned in time.

mod error;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod watchdog;

pub use error::CommError;
#[cfg(feature = "mpi")]
pub use mpi_comm::MpiComm;
pub use watchdog::{DEFAULT_TIMEOUT_SECS, TIMEOUT_ENV, Watchdog};

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Totals of the collectives a communicator ran (for `bench` and the train summary).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// All-reduce calls.
    pub all_reduces: u64,
    /// Bytes this rank contributed to them.
    pub bytes: u64,
    /// Wall time spent inside them (waiting for the slowest rank included).
    pub seconds: f64,
}

/// Atomic counters behind [`CommStats`].
#[derive(Debug, Default)]
pub struct CommCounters {
    calls: AtomicU64,
    bytes: AtomicU64,
    nanos: AtomicU64,
}

impl CommCounters {
    /// Count one collective of `bytes` that took `took`.
    pub fn record(&self, bytes: usize, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }
    /// The totals so far.
    pub fn stats(&self) -> CommStats {
        CommStats {
            all_reduces: self.calls.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

/// The ranks of one data-parallel group. Every rank must call the collectives in the same
/// order with buffers of the same length.
pub trait Communicator {
    /// This process's rank, `0..world_size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn world_size(&self) -> usize;
    /// For logs: `mpi (rank 1 of 2)`.
    fn name(&self) -> String;
    /// Replace `buf` on every rank by the elementwise sum of every rank's `buf`.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), CommError>;
    /// The same in f64 (the interpreter's f64 precision).
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), CommError>;
    /// Return once every rank has called it.
    fn barrier(&self) -> Result<(), CommError>;
    /// Totals of the collectives run so far.
    fn stats(&self) -> CommStats;
    /// End every rank of the group now with exit status `code` (after this rank failed:
    /// the others would otherwise wait for it in their next collective).
    fn abort(&self, code: i32) -> !;
}

/// A world of one rank: every collective is the identity.
#[derive(Debug, Default)]
pub struct SingleRank {
    counters: CommCounters,
}

impl SingleRank {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Communicator for SingleRank {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn name(&self) -> String {
        "single rank".into()
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), CommError> {
        self.counters
            .record(std::mem::size_of_val(buf), Duration::ZERO);
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), CommError> {
        self.counters
            .record(std::mem::size_of_val(buf), Duration::ZERO);
        Ok(())
    }
    fn barrier(&self) -> Result<(), CommError> {
        Ok(())
    }
    fn stats(&self) -> CommStats {
        self.counters.stats()
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// Whether an MPI launcher started this process (and with how many ranks, if it says).
pub fn launched_by_mpi() -> Option<usize> {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_SIZE",
        "MPI_LOCALNRANKS",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok())
    .map(|s| s.trim().parse().unwrap_or(0))
    .or_else(|| std::env::var("PMIX_RANK").ok().map(|_| 0))
}

/// The communicator of this process: MPI under an MPI launcher, else a single rank.
/// Shared by `Rc`: MPI runs serialized, from the thread that set it up.
/// Under a launcher without the `mpi` feature this is an error (running N independent
/// single-rank trainings would be wrong silently).
pub fn from_env() -> Result<Rc<dyn Communicator>, CommError> {
    match launched_by_mpi() {
        None => Ok(Rc::new(SingleRank::new())),
        Some(n) => mpi_from_env(n),
    }
}

#[cfg(feature = "mpi")]
fn mpi_from_env(_n: usize) -> Result<Rc<dyn Communicator>, CommError> {
    Ok(Rc::new(MpiComm::init()?))
}

#[cfg(not(feature = "mpi"))]
fn mpi_from_env(n: usize) -> Result<Rc<dyn Communicator>, CommError> {
    Err(CommError::NoMpi { launcher_size: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_rank_all_reduce_is_the_identity_and_is_counted() {
        let c = SingleRank::new();
        let mut v = vec![1.5f32, -2.0, 3.25];
        c.all_reduce_sum_f32(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0, 3.25]);
        let mut w = vec![0.5f64; 4];
        c.all_reduce_sum_f64(&mut w).unwrap();
        assert_eq!(w, [0.5; 4]);
        let s = c.stats();
        assert_eq!(s.all_reduces, 2);
        assert_eq!(s.bytes, 12 + 32);
        assert_eq!((c.rank(), c.world_size()), (0, 1));
    }
}
