//! # cport-ffi — the Win32 C ABI of cport (docs/semantics.md, "C ABI")
//!
//! `cargo build --release` produces `target/release/libcport.so` and
//! `libcport.a`; with the headers in `include/win32/` a Windows IOCP program
//! builds on Linux with
//! `cc -I include/win32 prog.c -L target/release -lcport -lpthread`.
//! docs/semantics.md ("C ABI") is the contract; `ffi/README.md` describes
//! the design.
//!
//! One folder per Win32 family, each depending only on the shared modules
//! and the engine (and the engine only on the shared modules and the cport
//! crate):
//!
//! | module | what |
//! |---|---|
//! | [`types`], [`types_sync`] | Win32 types, structures and constants (Windows x64 sizes); those of the synchronisation, file-information and memory families |
//! | `error` | the last error, the panic boundary, errno/Win32/NTSTATUS translations; GetLastError |
//! | `handles` | validated `HANDLE`/`SOCKET` values, resolving `hEvent`, CloseHandle |
//! | `engine/` | overlapped operations, routing of completions to ports, OVERLAPPED results; the C port object, events, blocking sections |
//! | `port/` | CreateIoCompletionPort, GetQueuedCompletionStatus(Ex), PostQueuedCompletionStatus; the C library's blocking calls as blocking sections |
//! | `winsock/` | sockets and blocking calls, options and ioctls, overlapped receive/send, the extensions (AcceptEx, ConnectEx, DisconnectEx, TransmitFile), WSARecvMsg/WSASendMsg, WSAPoll, WSAEventSelect, start-up and names, `select`, WSAStringToAddress/WSAAddressToString |
//! | `file/` | CreateFile (with serial-port device names), ReadFile/WriteFile, SetFilePointer, GetOverlappedResult, CancelIo(Ex), GetFileSize(Ex), SetEndOfFile, FlushFileBuffers, GetFileType; named pipes (refused) |
//! | `sync/` | events, waits and Sleep, critical sections, SRW locks, condition variables, InitOnce, semaphores and mutexes (waitable, named within the process), SLists, WaitOnAddress, waitable timers, thread-pool waits (RegisterWaitForSingleObject) |
//! | `threadpool/` | the thread pool: pools as completion ports served by workers; work, timers, waits, I/O, cleanup groups, callback instances |
//! | `thread/` | CreateThread and thread handles, GetCurrentThreadId, ExitProcess, TLS and FLS, APCs (QueueUserAPC, the alertable waits, completion routines) |
//! | `comm/` | serial ports on termios: GetCommState/SetCommState, GetCommTimeouts/SetCommTimeouts, `\\.\` device names |
//! | `crypt/` | BCryptGenRandom |
//! | `loader/` | GetModuleHandleA/W, GetProcAddress |
//! | `console/` | console control handlers, standard handles, WriteConsole |
//! | `heap/` | GetProcessHeap, HeapAlloc & co, VirtualAlloc/VirtualFree |
//! | `strings/` | lstrlen & co (strsafe.h is inline in the header), FormatMessageA/W, LocalAlloc/LocalFree |
//! | `system/` | GetSystemInfo, versions (and VerifyVersionInfo), clocks, the process, GetSystemTimeAsFileTime, SwitchToThread, MessageBoxA/W |
//!
//! Every export runs inside `error::boundary`: a Rust panic never unwinds
//! into C; the call returns its failure value with `ERROR_INTERNAL_ERROR`.
//!
//! Known gaps (see the README): blocking in C library calls that
//! `port::libc_waits` does not wrap is invisible to the concurrency
//! accounting; events are unnamed; WSAAsyncSelect is not provided, and an overlapped WSARecvMsg has
//! no pending form.
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod types;
pub mod types_sync;

mod comm;
mod console;
mod crypt;
mod engine;
mod error;
mod file;
mod handles;
mod heap;
mod loader;
mod port;
mod strings;
mod sync;
mod system;
mod thread;
mod threadpool;
mod winsock;
