//! # cport-ffi — the Win32 C ABI of cport (docs/semantics.md, "C ABI")
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
//!
//! Every export runs inside [`error::boundary`]: a Rust panic never unwinds
//! into C; the call returns its failure value with `ERROR_INTERNAL_ERROR`.
//!
//! Known gaps (see the README section on the C ABI): blocking in raw libc
//! calls is invisible to the concurrency accounting; completion routines
//! are not supported; events are unnamed.
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod types;

mod console;
mod error;
mod event;
mod file;
mod handles;
mod heap;
mod io;
mod misc;
mod port;
mod sock;
mod strings;
mod sync;
mod thread;

// Waitable timers, thread-pool waits, APCs, select, module lookup, version
// checks, BCryptGenRandom, named pipes (refused), serial ports, Winsock
// address strings: what Asio's Windows backend needs beyond the above.
// (To be folded into the family folders' mod.rs files.)
#[path = "winsock/addr_string.rs"]
mod addr_string;
#[path = "thread/apc.rs"]
mod apc;
#[path = "comm/mod.rs"]
mod comm;
#[path = "crypt/mod.rs"]
mod crypt;
#[path = "loader/mod.rs"]
mod loader;
#[path = "file/named_pipe.rs"]
mod named_pipe;
#[path = "sync/register_wait.rs"]
mod register_wait;
#[path = "winsock/select.rs"]
mod select;
#[path = "misc/verify_version.rs"]
mod verify_version;
#[path = "sync/waitable_timer.rs"]
mod waitable_timer;
