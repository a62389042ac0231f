//! [`Communicator`] over MPI's `MPI_COMM_WORLD` (the `mpi` crate; Debian OpenMPI).
//!
//! MPI is initialized with `MPI_THREAD_SERIALIZED` (rayon's threads exist but only one
//! thread at a time calls MPI) and finalized when the [`MpiComm`] is dropped. Errors are
//! MPI's default handler, `MPI_ERRORS_ARE_FATAL`: a failed collective (a peer's socket
//! closed because it died) aborts this process with MPI's message, and mpirun then ends
//! every rank; the [`Watchdog`] covers a peer that is alive but stuck.

use super::{CommCounters, CommError, CommStats, Communicator, Watchdog};
use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives};
use std::time::Instant;

/// MPI's world communicator, owning the MPI environment.
pub struct MpiComm {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    watchdog: Option<Watchdog>,
    counters: CommCounters,
    /// Finalizes MPI on drop; declared last so the communicator goes first.
    _universe: Universe,
}

impl MpiComm {
    /// Initialize MPI (once per process) and take `MPI_COMM_WORLD`.
    pub fn init() -> Result<MpiComm, CommError> {
        let (universe, provided) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| CommError::Init("MPI was already initialized".into()))?;
        if provided < Threading::Serialized {
            return Err(CommError::Init(format!(
                "the MPI library provides thread level {provided:?}, llc-train needs Serialized"
            )));
        }
        let world = universe.world();
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        Ok(MpiComm {
            world,
            rank,
            size,
            watchdog: Watchdog::from_env(rank),
            counters: CommCounters::default(),
            _universe: universe,
        })
    }

    fn check_len(len: usize) -> Result<(), CommError> {
        let limit = i32::MAX as usize;
        if len > limit {
            return Err(CommError::TooLarge {
                what: "all_reduce buffer",
                len,
                limit,
            });
        }
        Ok(())
    }

    fn guarded<R>(&self, what: impl FnOnce() -> String, f: impl FnOnce() -> R) -> R {
        match &self.watchdog {
            Some(w) => w.guard(what, f),
            None => f(),
        }
    }

    fn sum<T>(&self, buf: &mut [T]) -> Result<(), CommError>
    where
        T: Copy,
        [T]: mpi::datatype::Buffer + mpi::datatype::BufferMut,
    {
        Self::check_len(buf.len())?;
        let start = Instant::now();
        let send = buf.to_vec();
        let bytes = std::mem::size_of_val(buf);
        self.guarded(
            || format!("all_reduce of {bytes} bytes"),
            || {
                self.world
                    .all_reduce_into(&send[..], buf, SystemOperation::sum())
            },
        );
        self.counters.record(bytes, start.elapsed());
        Ok(())
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.size
    }
    fn name(&self) -> String {
        format!("mpi (rank {} of {})", self.rank, self.size)
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), CommError> {
        self.sum(buf)
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), CommError> {
        self.sum(buf)
    }
    fn barrier(&self) -> Result<(), CommError> {
        self.guarded(|| "barrier".to_string(), || self.world.barrier());
        Ok(())
    }
    fn stats(&self) -> CommStats {
        self.counters.stats()
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
