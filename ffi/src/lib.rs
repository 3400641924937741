//! # cport-ffi — the Win32 C ABI of cport ("C ABI" in docs/semantics.md)
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
//! | `types_sync` | types and constants of the modules below (Windows x64 layouts) |
//! | `park` | sleeping by address for the objects in program memory |
//! | `srwlock`, `condvar`, `init_once`, `wait_on_address` | SRW locks, condition variables, one-time init, WaitOnAddress |
//! | `semaphore`, `mutex`, `names` | semaphores and mutexes (waitable handles), their names |
//! | `slist` | interlocked SLists |
//! | `tls` | TlsAlloc & co, FlsAlloc & co |
//! | `file_info` | GetFileSize(Ex), SetEndOfFile, FlushFileBuffers, GetFileType |
//! | `virtual_mem` | VirtualAlloc, VirtualFree |
//! | `format_message` | FormatMessageA/W, LocalAlloc, LocalFree |
//! | `system_extra` | GetSystemTimeAsFileTime, SwitchToThread, MessageBoxA/W |
//! | `heap` | GetProcessHeap, HeapAlloc & co |
//! | `console` | console control handlers, standard handles, WriteConsole |
//! | `strings` | lstrlen & co (strsafe.h is inline in the header) |
//!
//! Every export runs inside [`error::boundary`]: a Rust panic never unwinds
//! into C; the call returns its failure value with `ERROR_INTERNAL_ERROR`.
//!
//! Known gaps (see the README section on the C ABI): blocking in raw libc
//! calls is invisible to the concurrency accounting; completion routines
//! (APCs) are not supported; events are unnamed; `select` is not provided.
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

// Slim locks, condition variables, one-time init, SLists, semaphores, mutexes,
// WaitOnAddress, TLS/FLS, file information, virtual memory, FormatMessage.
// (To be folded into the family folders' mod.rs files.)
#[path = "sync/condvar.rs"]
mod condvar;
#[path = "file/info.rs"]
mod file_info;
#[path = "strings/format_message.rs"]
mod format_message;
#[path = "sync/init_once.rs"]
mod init_once;
#[path = "sync/mutex.rs"]
mod mutex;
#[path = "sync/names.rs"]
mod names;
#[path = "sync/park.rs"]
mod park;
#[path = "sync/semaphore.rs"]
mod semaphore;
#[path = "sync/slist.rs"]
mod slist;
#[path = "sync/srwlock.rs"]
mod srwlock;
#[path = "misc/system.rs"]
mod system_extra;
#[path = "thread/tls.rs"]
mod tls;
#[path = "types/sync_memory.rs"]
pub mod types_sync;
#[path = "heap/virtual_mem.rs"]
mod virtual_mem;
#[path = "sync/wait_on_address.rs"]
mod wait_on_address;
