//! Win32 types, structures and constants with their Windows x64 (LLP64) sizes
//! and values.
//!
//! This file is self-contained (only `core`), so the layout test
//! (`ffi/tests/layout.rs`) includes it with `#[path]` and checks every
//! structure and every constant below against `include/win32/`.
#![allow(
    non_camel_case_types,
    non_snake_case,
    dead_code,
    clippy::upper_case_acronyms
)]

use core::ffi::c_void;

pub type BOOL = i32;
pub type BYTE = u8;
pub type WORD = u16;
pub type DWORD = u32;
pub type ULONG = u32;
pub type LONG = i32;
pub type INT = i32;
pub type UINT = u32;
pub type ULONG_PTR = usize;
pub type DWORD_PTR = usize;
pub type UINT_PTR = usize;
pub type LONG_PTR = isize;
pub type HANDLE = *mut c_void;
pub type SOCKET = UINT_PTR;

/// `OVERLAPPED` (= `WSAOVERLAPPED`): 32 bytes. The `Offset`/`OffsetHigh` pair
/// shares its 8 bytes with `Pointer` in a union; only the pair is used here.
#[repr(C)]
pub struct OVERLAPPED {
    /// The NTSTATUS of the operation (`STATUS_PENDING` while it runs).
    pub Internal: ULONG_PTR,
    /// Bytes transferred, written at completion.
    pub InternalHigh: ULONG_PTR,
    pub Offset: DWORD,
    pub OffsetHigh: DWORD,
    pub hEvent: HANDLE,
}

/// One entry of `GetQueuedCompletionStatusEx`: 32 bytes.
#[repr(C)]
pub struct OVERLAPPED_ENTRY {
    pub lpCompletionKey: ULONG_PTR,
    pub lpOverlapped: *mut OVERLAPPED,
    pub Internal: ULONG_PTR,
    pub dwNumberOfBytesTransferred: DWORD,
}

/// `WSABUF`: length first (not `struct iovec` order).
#[repr(C)]
pub struct WSABUF {
    pub len: ULONG,
    pub buf: *mut u8,
}

#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GUID {
    pub Data1: u32,
    pub Data2: u16,
    pub Data3: u16,
    pub Data4: [u8; 8],
}

impl GUID {
    /// The GUID written `{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}`, given as the
    /// number `0xaaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee`.
    pub const fn from_u128(v: u128) -> GUID {
        GUID {
            Data1: (v >> 96) as u32,
            Data2: (v >> 80) as u16,
            Data3: (v >> 64) as u16,
            Data4: (v as u64).to_be_bytes(),
        }
    }
}

#[repr(C)]
pub struct SYSTEM_INFO {
    /// `dwOemId`, or `wProcessorArchitecture` + `wReserved`.
    pub wProcessorArchitecture: WORD,
    pub wReserved: WORD,
    pub dwPageSize: DWORD,
    pub lpMinimumApplicationAddress: *mut c_void,
    pub lpMaximumApplicationAddress: *mut c_void,
    pub dwActiveProcessorMask: DWORD_PTR,
    pub dwNumberOfProcessors: DWORD,
    pub dwProcessorType: DWORD,
    pub dwAllocationGranularity: DWORD,
    pub wProcessorLevel: WORD,
    pub wProcessorRevision: WORD,
}

/// `CRITICAL_SECTION` (`RTL_CRITICAL_SECTION`): 40 bytes, in the program's
/// memory. cport keeps its whole state in these fields (see `ffi/src/sync/critical_section.rs`):
/// `LockCount` is the futex word (0 free, 1 held, 2 held with waiters),
/// `OwningThread` the owner's thread id, `RecursionCount` its depth.
#[repr(C)]
pub struct CRITICAL_SECTION {
    pub DebugInfo: *mut c_void,
    pub LockCount: LONG,
    pub RecursionCount: LONG,
    pub OwningThread: HANDLE,
    pub LockSemaphore: HANDLE,
    pub SpinCount: ULONG_PTR,
}

/// `OSVERSIONINFOA`: 148 bytes.
#[repr(C)]
pub struct OSVERSIONINFOA {
    pub dwOSVersionInfoSize: DWORD,
    pub dwMajorVersion: DWORD,
    pub dwMinorVersion: DWORD,
    pub dwBuildNumber: DWORD,
    pub dwPlatformId: DWORD,
    pub szCSDVersion: [u8; 128],
}

/// `OSVERSIONINFOEXA`: 156 bytes (`OSVERSIONINFOA` and five more fields).
#[repr(C)]
pub struct OSVERSIONINFOEXA {
    pub dwOSVersionInfoSize: DWORD,
    pub dwMajorVersion: DWORD,
    pub dwMinorVersion: DWORD,
    pub dwBuildNumber: DWORD,
    pub dwPlatformId: DWORD,
    pub szCSDVersion: [u8; 128],
    pub wServicePackMajor: WORD,
    pub wServicePackMinor: WORD,
    pub wSuiteMask: WORD,
    pub wProductType: BYTE,
    pub wReserved: BYTE,
}

/// `TRANSMIT_FILE_BUFFERS`: data sent before and after TransmitFile's file.
#[repr(C)]
pub struct TRANSMIT_FILE_BUFFERS {
    pub Head: *mut u8,
    pub HeadLength: DWORD,
    pub Tail: *mut u8,
    pub TailLength: DWORD,
}

/// `LARGE_INTEGER` as `QueryPerformanceCounter` writes it.
pub type LARGE_INTEGER = i64;

pub const WSADESCRIPTION_LEN: usize = 256;
pub const WSASYS_STATUS_LEN: usize = 128;

/// `WSADATA` in its `_WIN64` field order.
#[repr(C)]
pub struct WSADATA {
    pub wVersion: WORD,
    pub wHighVersion: WORD,
    pub iMaxSockets: u16,
    pub iMaxUdpDg: u16,
    pub lpVendorInfo: *mut u8,
    pub szDescription: [u8; WSADESCRIPTION_LEN + 1],
    pub szSystemStatus: [u8; WSASYS_STATUS_LEN + 1],
}

/// Declares constants and collects them in [`ALL_CONSTANTS`] for the layout test.
macro_rules! constants {
    ($($(#[$m:meta])* $name:ident : $ty:ty = $val:expr;)*) => {
        $($(#[$m])* pub const $name: $ty = $val;)*
        /// Every constant of this module with its value, as the header must have it.
        pub const ALL_CONSTANTS: &[(&str, i128)] = &[$((stringify!($name), $name as i128)),*];
    };
}

constants! {
    TRUE: BOOL = 1;
    FALSE: BOOL = 0;

    // Win32 errors.
    ERROR_SUCCESS: DWORD = 0;
    NO_ERROR: DWORD = 0;
    ERROR_INVALID_FUNCTION: DWORD = 1;
    ERROR_FILE_NOT_FOUND: DWORD = 2;
    ERROR_PATH_NOT_FOUND: DWORD = 3;
    ERROR_TOO_MANY_OPEN_FILES: DWORD = 4;
    ERROR_ACCESS_DENIED: DWORD = 5;
    ERROR_INVALID_HANDLE: DWORD = 6;
    ERROR_NOT_ENOUGH_MEMORY: DWORD = 8;
    ERROR_WRITE_PROTECT: DWORD = 19;
    ERROR_GEN_FAILURE: DWORD = 31;
    ERROR_SHARING_VIOLATION: DWORD = 32;
    ERROR_HANDLE_EOF: DWORD = 38;
    ERROR_NEGATIVE_SEEK: DWORD = 131;
    ERROR_NOT_SUPPORTED: DWORD = 50;
    ERROR_NETNAME_DELETED: DWORD = 64;
    ERROR_FILE_EXISTS: DWORD = 80;
    ERROR_INVALID_PARAMETER: DWORD = 87;
    ERROR_BROKEN_PIPE: DWORD = 109;
    ERROR_DISK_FULL: DWORD = 112;
    ERROR_SEM_TIMEOUT: DWORD = 121;
    ERROR_INSUFFICIENT_BUFFER: DWORD = 122;
    ERROR_ALREADY_EXISTS: DWORD = 183;
    ERROR_FILENAME_EXCED_RANGE: DWORD = 206;
    ERROR_MORE_DATA: DWORD = 234;
    WAIT_TIMEOUT: DWORD = 258;
    ERROR_ABANDONED_WAIT_0: DWORD = 735;
    ERROR_OPERATION_ABORTED: DWORD = 995;
    ERROR_IO_INCOMPLETE: DWORD = 996;
    ERROR_IO_PENDING: DWORD = 997;
    ERROR_NOACCESS: DWORD = 998;
    ERROR_IO_DEVICE: DWORD = 1117;
    ERROR_NOT_FOUND: DWORD = 1168;
    ERROR_CONNECTION_REFUSED: DWORD = 1225;
    ERROR_CONNECTION_INVALID: DWORD = 1229;
    ERROR_NETWORK_UNREACHABLE: DWORD = 1231;
    ERROR_HOST_UNREACHABLE: DWORD = 1232;
    ERROR_PORT_UNREACHABLE: DWORD = 1234;
    ERROR_CONNECTION_ABORTED: DWORD = 1236;
    ERROR_INTERNAL_ERROR: DWORD = 1359;

    // Winsock errors.
    WSA_INVALID_HANDLE: DWORD = 6;
    WSA_NOT_ENOUGH_MEMORY: DWORD = 8;
    WSA_INVALID_PARAMETER: DWORD = 87;
    WSA_OPERATION_ABORTED: DWORD = 995;
    WSA_IO_INCOMPLETE: DWORD = 996;
    WSA_IO_PENDING: DWORD = 997;
    WSAEINTR: DWORD = 10004;
    WSAEBADF: DWORD = 10009;
    WSAEACCES: DWORD = 10013;
    WSAEFAULT: DWORD = 10014;
    WSAEINVAL: DWORD = 10022;
    WSAEMFILE: DWORD = 10024;
    WSAEWOULDBLOCK: DWORD = 10035;
    WSAEINPROGRESS: DWORD = 10036;
    WSAEALREADY: DWORD = 10037;
    WSAENOTSOCK: DWORD = 10038;
    WSAEDESTADDRREQ: DWORD = 10039;
    WSAEMSGSIZE: DWORD = 10040;
    WSAEPROTOTYPE: DWORD = 10041;
    WSAENOPROTOOPT: DWORD = 10042;
    WSAEPROTONOSUPPORT: DWORD = 10043;
    WSAESOCKTNOSUPPORT: DWORD = 10044;
    WSAEOPNOTSUPP: DWORD = 10045;
    WSAEPFNOSUPPORT: DWORD = 10046;
    WSAEAFNOSUPPORT: DWORD = 10047;
    WSAEADDRINUSE: DWORD = 10048;
    WSAEADDRNOTAVAIL: DWORD = 10049;
    WSAENETDOWN: DWORD = 10050;
    WSAENETUNREACH: DWORD = 10051;
    WSAENETRESET: DWORD = 10052;
    WSAECONNABORTED: DWORD = 10053;
    WSAECONNRESET: DWORD = 10054;
    WSAENOBUFS: DWORD = 10055;
    WSAEISCONN: DWORD = 10056;
    WSAENOTCONN: DWORD = 10057;
    WSAESHUTDOWN: DWORD = 10058;
    WSAETOOMANYREFS: DWORD = 10059;
    WSAETIMEDOUT: DWORD = 10060;
    WSAECONNREFUSED: DWORD = 10061;
    WSAELOOP: DWORD = 10062;
    WSAENAMETOOLONG: DWORD = 10063;
    WSAEHOSTDOWN: DWORD = 10064;
    WSAEHOSTUNREACH: DWORD = 10065;
    WSASYSNOTREADY: DWORD = 10091;
    WSAVERNOTSUPPORTED: DWORD = 10092;
    WSANOTINITIALISED: DWORD = 10093;
    WSAEDISCON: DWORD = 10101;
    WSAHOST_NOT_FOUND: DWORD = 11001;
    WSATRY_AGAIN: DWORD = 11002;
    WSANO_RECOVERY: DWORD = 11003;
    WSANO_DATA: DWORD = 11004;
    WSATYPE_NOT_FOUND: DWORD = 10109;

    // getaddrinfo errors (Windows values: the WSA errors).
    EAI_AGAIN: INT = 11002;
    EAI_BADFLAGS: INT = 10022;
    EAI_FAIL: INT = 11003;
    EAI_FAMILY: INT = 10047;
    EAI_MEMORY: INT = 8;
    EAI_NONAME: INT = 11001;
    EAI_SERVICE: INT = 10109;
    EAI_SOCKTYPE: INT = 10044;
    EAI_NODATA: INT = 11001;

    // Waits.
    WAIT_OBJECT_0: DWORD = 0;
    WAIT_ABANDONED: DWORD = 0x80;
    WAIT_ABANDONED_0: DWORD = 0x80;
    WAIT_IO_COMPLETION: DWORD = 0xC0;
    WAIT_FAILED: DWORD = 0xFFFF_FFFF;
    INFINITE: DWORD = 0xFFFF_FFFF;
    WSA_WAIT_EVENT_0: DWORD = 0;
    WSA_WAIT_IO_COMPLETION: DWORD = 0xC0;
    WSA_WAIT_TIMEOUT: DWORD = 258;
    WSA_WAIT_FAILED: DWORD = 0xFFFF_FFFF;
    WSA_INFINITE: DWORD = 0xFFFF_FFFF;
    MAXIMUM_WAIT_OBJECTS: DWORD = 64;
    WSA_MAXIMUM_WAIT_EVENTS: DWORD = 64;

    // NTSTATUS values (OVERLAPPED.Internal).
    STATUS_SUCCESS: DWORD = 0;
    STATUS_ABANDONED: DWORD = 0x80;
    STATUS_USER_APC: DWORD = 0xC0;
    STATUS_TIMEOUT: DWORD = 0x102;
    STATUS_PENDING: DWORD = 0x103;
    STATUS_BUFFER_OVERFLOW: DWORD = 0x8000_0005;
    STATUS_INVALID_INFO_CLASS: DWORD = 0xC000_0003;
    STATUS_INFO_LENGTH_MISMATCH: DWORD = 0xC000_0004;
    STATUS_INVALID_HANDLE: DWORD = 0xC000_0008;
    STATUS_INVALID_PARAMETER: DWORD = 0xC000_000D;
    STATUS_END_OF_FILE: DWORD = 0xC000_0011;
    STATUS_NO_MEMORY: DWORD = 0xC000_0017;
    STATUS_ACCESS_DENIED: DWORD = 0xC000_0022;
    STATUS_BUFFER_TOO_SMALL: DWORD = 0xC000_0023;
    STATUS_IO_TIMEOUT: DWORD = 0xC000_00B5;
    STATUS_CANCELLED: DWORD = 0xC000_0120;
    STATUS_LOCAL_DISCONNECT: DWORD = 0xC000_013B;
    STATUS_REMOTE_DISCONNECT: DWORD = 0xC000_013C;
    STATUS_INVALID_CONNECTION: DWORD = 0xC000_0140;
    STATUS_CONNECTION_RESET: DWORD = 0xC000_020D;
    STATUS_NOT_FOUND: DWORD = 0xC000_0225;
    STATUS_CONNECTION_REFUSED: DWORD = 0xC000_0236;
    STATUS_NETWORK_UNREACHABLE: DWORD = 0xC000_023C;
    STATUS_HOST_UNREACHABLE: DWORD = 0xC000_023D;
    STATUS_PORT_UNREACHABLE: DWORD = 0xC000_023F;
    STATUS_CONNECTION_ABORTED: DWORD = 0xC000_0241;

    // Files.
    GENERIC_READ: DWORD = 0x8000_0000;
    GENERIC_WRITE: DWORD = 0x4000_0000;
    GENERIC_EXECUTE: DWORD = 0x2000_0000;
    GENERIC_ALL: DWORD = 0x1000_0000;
    FILE_SHARE_READ: DWORD = 1;
    FILE_SHARE_WRITE: DWORD = 2;
    FILE_SHARE_DELETE: DWORD = 4;
    CREATE_NEW: DWORD = 1;
    CREATE_ALWAYS: DWORD = 2;
    OPEN_EXISTING: DWORD = 3;
    OPEN_ALWAYS: DWORD = 4;
    TRUNCATE_EXISTING: DWORD = 5;
    FILE_ATTRIBUTE_READONLY: DWORD = 0x1;
    FILE_ATTRIBUTE_NORMAL: DWORD = 0x80;
    FILE_ATTRIBUTE_TEMPORARY: DWORD = 0x100;
    FILE_FLAG_WRITE_THROUGH: DWORD = 0x8000_0000;
    FILE_FLAG_OVERLAPPED: DWORD = 0x4000_0000;
    FILE_FLAG_NO_BUFFERING: DWORD = 0x2000_0000;
    FILE_FLAG_RANDOM_ACCESS: DWORD = 0x1000_0000;
    FILE_FLAG_SEQUENTIAL_SCAN: DWORD = 0x0800_0000;
    FILE_FLAG_DELETE_ON_CLOSE: DWORD = 0x0400_0000;
    FILE_FLAG_BACKUP_SEMANTICS: DWORD = 0x0200_0000;
    FILE_BEGIN: DWORD = 0;
    FILE_CURRENT: DWORD = 1;
    FILE_END: DWORD = 2;
    INVALID_SET_FILE_POINTER: DWORD = 0xFFFF_FFFF;
    FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: DWORD = 0x1;
    FILE_SKIP_SET_EVENT_ON_HANDLE: DWORD = 0x2;

    // Processor information.
    PROCESSOR_ARCHITECTURE_AMD64: WORD = 9;
    PROCESSOR_AMD_X8664: DWORD = 8664;

    // Winsock.
    INVALID_SOCKET: SOCKET = !0;
    SOCKET_ERROR: INT = -1;
    WSA_FLAG_OVERLAPPED: DWORD = 0x01;
    WSA_FLAG_NO_HANDLE_INHERIT: DWORD = 0x80;
    FROM_PROTOCOL_INFO: INT = -1;
    SD_RECEIVE: INT = 0;
    SD_SEND: INT = 1;
    SD_BOTH: INT = 2;
    SIO_GET_EXTENSION_FUNCTION_POINTER: DWORD = 0xC800_0006;
    /// mstcpip.h: a `struct tcp_keepalive` in.
    SIO_KEEPALIVE_VALS: DWORD = 0x9800_0004;
    FIONBIO: LONG = 0x8004_667E_u32 as LONG;
    FIONREAD: LONG = 0x4004_667F;
    SO_UPDATE_ACCEPT_CONTEXT: INT = 0x700B;
    SO_UPDATE_CONNECT_CONTEXT: INT = 0x7010;
    SO_CONNECT_TIME: INT = 0x700C;
    /// `((int)(~SO_REUSEADDR))` with Linux's `SO_REUSEADDR` (2), as the header defines it.
    SO_EXCLUSIVEADDRUSE: INT = !2;
    CF_ACCEPT: INT = 0;
    CF_REJECT: INT = 1;
    CF_DEFER: INT = 2;

    // TransmitFile / DisconnectEx flags (mswsock.h).
    TF_DISCONNECT: DWORD = 0x01;
    TF_REUSE_SOCKET: DWORD = 0x02;
    TF_WRITE_BEHIND: DWORD = 0x04;
    TF_USE_DEFAULT_WORKER: DWORD = 0x00;
    TF_USE_SYSTEM_THREAD: DWORD = 0x10;
    TF_USE_KERNEL_APC: DWORD = 0x20;

    // Threads.
    STILL_ACTIVE: DWORD = 0x103;
    CREATE_SUSPENDED: DWORD = 0x4;
    STACK_SIZE_PARAM_IS_A_RESERVATION: DWORD = 0x10000;

    // Console.
    CTRL_C_EVENT: DWORD = 0;
    CTRL_BREAK_EVENT: DWORD = 1;
    CTRL_CLOSE_EVENT: DWORD = 2;
    CTRL_LOGOFF_EVENT: DWORD = 5;
    CTRL_SHUTDOWN_EVENT: DWORD = 6;
    STD_INPUT_HANDLE: DWORD = -10i32 as DWORD;
    STD_OUTPUT_HANDLE: DWORD = -11i32 as DWORD;
    STD_ERROR_HANDLE: DWORD = -12i32 as DWORD;

    // Heaps.
    HEAP_NO_SERIALIZE: DWORD = 0x1;
    HEAP_GENERATE_EXCEPTIONS: DWORD = 0x4;
    HEAP_ZERO_MEMORY: DWORD = 0x8;
    HEAP_REALLOC_IN_PLACE_ONLY: DWORD = 0x10;

    // Versions.
    VER_PLATFORM_WIN32_NT: DWORD = 2;
    VER_NT_WORKSTATION: BYTE = 1;

    // HRESULTs (strsafe.h).
    S_OK: LONG = 0;
    STRSAFE_E_INSUFFICIENT_BUFFER: LONG = 0x8007_007A_u32 as LONG;
    STRSAFE_E_INVALID_PARAMETER: LONG = 0x8007_0057_u32 as LONG;
    STRSAFE_E_END_OF_FILE: LONG = 0x8007_0026_u32 as LONG;
    STRSAFE_MAX_CCH: LONG = 2_147_483_647;
}

/// `INVALID_HANDLE_VALUE`: `(HANDLE)(LONG_PTR)-1`.
pub const INVALID_HANDLE_VALUE: usize = usize::MAX;

/// The id of `AcceptEx` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_ACCEPTEX: GUID = GUID::from_u128(0xb5367df1_cbac_11cf_95ca_00805f48a192);
/// The id of `GetAcceptExSockaddrs` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_GETACCEPTEXSOCKADDRS: GUID =
    GUID::from_u128(0xb5367df2_cbac_11cf_95ca_00805f48a192);
/// The id of `ConnectEx` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_CONNECTEX: GUID = GUID::from_u128(0x25a207b9_ddf3_4660_8ee9_76e58c74063e);
/// The id of `DisconnectEx` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_DISCONNECTEX: GUID = GUID::from_u128(0x7fda2e11_8630_436f_a031_f536a6eec157);
/// The id of `TransmitFile` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_TRANSMITFILE: GUID = GUID::from_u128(0xb5367df0_cbac_11cf_95ca_00805f48a192);

/// The id of `WSARecvMsg` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_WSARECVMSG: GUID = GUID::from_u128(0xf689d7c8_6f1f_436b_8a53_e54fe351c322);
/// The id of `WSASendMsg` for `WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)`.
pub const WSAID_WSASENDMSG: GUID = GUID::from_u128(0xa441e712_754f_43ca_84a7_0dee44cf606d);

/// Every GUID the header defines, for the layout test.
pub const ALL_GUIDS: &[(&str, GUID)] = &[
    ("WSAID_ACCEPTEX", WSAID_ACCEPTEX),
    ("WSAID_GETACCEPTEXSOCKADDRS", WSAID_GETACCEPTEXSOCKADDRS),
    ("WSAID_CONNECTEX", WSAID_CONNECTEX),
    ("WSAID_DISCONNECTEX", WSAID_DISCONNECTEX),
    ("WSAID_TRANSMITFILE", WSAID_TRANSMITFILE),
    ("WSAID_WSARECVMSG", WSAID_WSARECVMSG),
    ("WSAID_WSASENDMSG", WSAID_WSASENDMSG),
];

/// Whether an NTSTATUS is a success code (`NT_SUCCESS`: ≥ 0 as a signed value).
pub const fn nt_success(status: DWORD) -> bool {
    (status as i32) >= 0
}
