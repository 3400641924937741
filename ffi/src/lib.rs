//! # cport-ffi — the Win32 C ABI of cport (SPEC §7)
//!
//! `cargo build --release` produces `target/release/libcport.so` and
//! `libcport.a`; with the headers in `include/win32/` a Windows IOCP program
//! builds on Linux with
//! `cc -I include/win32 prog.c -L target/release -lcport -lpthread`.
//!
//! | module | what |
//! |---|---|
//! | [`types`] | Win32 types, structures and constants (Windows x64 sizes) |
//! | `handles` | validated `HANDLE`/`SOCKET` values for ports, sockets, files, events |
//! | `port` | CreateIoCompletionPort, GQCS(Ex), PQCS, concurrency accounting |
//! | `io` | the engine: overlapped operations, OVERLAPPED results, routing |
//! | `sock` | Winsock: sockets, WSARecv/WSASend…, AcceptEx, ConnectEx |
//! | `file` | CreateFile, ReadFile/WriteFile, GetOverlappedResult, CancelIo(Ex), CloseHandle |
//! | `event` | events and waits |
//! | `misc` | WSAStartup, last error, Sleep, GetSystemInfo, address helpers, version, clocks |
//! | `thread` | CreateThread and thread handles, GetCurrentThreadId, ExitProcess |
//! | `sync` | critical sections |
//! | `heap` | GetProcessHeap, HeapAlloc & co |
//! | `console` | console control handlers, standard handles, WriteConsole |
//! | `strings` | lstrlen & co (strsafe.h is inline in the header) |
//! | `interpose` | the C library's blocking calls as blocking sections of the thread's port |
//!
//! Every export runs inside [`error::boundary`]: a Rust panic never unwinds
//! into C; the call returns its failure value with `ERROR_INTERNAL_ERROR`.
//!
//! Known gaps (see the README section on the C ABI): blocking in the C
//! library calls that `interpose` does not wrap is invisible to the
//! concurrency accounting; completion routines (APCs) are not supported;
//! events are unnamed; Winsock's `select` is not provided.
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod types;

mod console;
mod engine;
mod error;
mod file;
mod handles;
mod heap;
mod interpose;
mod port;
mod strings;
mod sync;
mod system;
mod thread;
mod winsock;
