//! Errors of the collectives.

use thiserror::Error;

/// What can go wrong setting up or running a collective.
#[derive(Debug, Error)]
pub enum CommError {
    /// An MPI launcher started the process but this build has no MPI.
    #[error(
        "started by an MPI launcher ({launcher_size} ranks) but this llc-train was built without the `mpi` feature; rebuild with --features mpi"
    )]
    NoMpi { launcher_size: usize },
    /// `MPI_Init` failed or MPI was initialized twice.
    #[error("mpi: initialization failed ({0})")]
    Init(String),
    /// A buffer too large for one MPI call (counts are C ints).
    #[error("mpi: {what} of {len} elements exceeds MPI's count limit ({limit})")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    /// The ranks disagree (different buffer lengths, a different step).
    #[error("rank {rank}: {msg}")]
    Mismatch { rank: usize, msg: String },
}
