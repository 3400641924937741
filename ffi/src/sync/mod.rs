//! Synchronisation: events, waits (and `Sleep`), critical sections.
//!
//! Every wait here is a blocking section of the calling thread's completion
//! port: the thread stops counting against the port's concurrency limit
//! while it waits, as on Windows.

pub(crate) mod critical_section;
pub(crate) mod events;
pub(crate) mod waits;
