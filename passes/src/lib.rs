//! llc-passes: IR-to-IR passes and the named pipeline.

pub mod egraph;
