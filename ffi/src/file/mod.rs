//! Files: `CreateFileA/W`, `ReadFile`/`WriteFile`, `SetFilePointer(Ex)`,
//! and the calls that end or observe overlapped I/O on any handle:
//! `GetOverlappedResult`, `CancelIo`, `CancelIoEx`,
//! `SetFileCompletionNotificationModes`; file information ([`info`]);
//! `CreateNamedPipeA/W`, refused ([`named_pipe`]). `CreateFile` maps
//! serial-port device names (`\\.\COM1`) through `crate::comm`.
//!
//! A file opened with `FILE_FLAG_OVERLAPPED` lives on the engine like a
//! socket: `ReadFile`/`WriteFile` take the position from `Offset`/`OffsetHigh`,
//! return `FALSE` + `ERROR_IO_PENDING` and complete through the packet (a read
//! at or past the end: `ERROR_HANDLE_EOF`, through the packet). A file opened
//! without it is synchronous: its calls run at once on the calling thread and
//! it cannot be associated with a port (87).

pub(crate) mod create;
pub(crate) mod info;
pub(crate) mod io;
pub(crate) mod named_pipe;
pub(crate) mod overlapped;
