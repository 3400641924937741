//! Synchronisation: events, waits (and `Sleep`), critical sections, SRW
//! locks, condition variables, one-time initialisation, semaphores and
//! mutexes, SLists, `WaitOnAddress`, waitable timers ([`waitable_timer`]) and
//! thread-pool waits ([`register_wait`]).
//!
//! Every wait here is a blocking section of the calling thread's completion
//! port: the thread stops counting against the port's concurrency limit
//! while it waits, as on Windows.

pub(crate) mod condvar;
pub(crate) mod critical_section;
pub(crate) mod events;
pub(crate) mod init_once;
pub(crate) mod mutex;
pub(crate) mod names;
pub(crate) mod park;
pub(crate) mod register_wait;
pub(crate) mod semaphore;
pub(crate) mod slist;
pub(crate) mod srwlock;
pub(crate) mod wait_on_address;
pub(crate) mod waitable_timer;
pub(crate) mod waits;
