//! The checked-in headers (`include/win32/`) and the Rust definitions
//! (`ffi/src/types.rs`) agree: every constant's value, every structure's size
//! and field offsets, every GUID — and the Windows x64 sizes hold. A C
//! program is generated from the Rust tables, compiled (as C and as C++, with
//! `-Werror`) against the headers, run, and its output compared.

#[path = "../src/types.rs"]
mod types;
#[path = "../src/types_sync.rs"]
mod types_sync;

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::time::Duration;

use types::*;

/// (C type, Rust size, Windows x64 size).
fn sizes() -> Vec<(&'static str, usize, usize)> {
    vec![
        ("OVERLAPPED", size_of::<OVERLAPPED>(), 32),
        ("WSAOVERLAPPED", size_of::<OVERLAPPED>(), 32),
        ("OVERLAPPED_ENTRY", size_of::<OVERLAPPED_ENTRY>(), 32),
        ("GUID", size_of::<GUID>(), 16),
        ("WSABUF", size_of::<WSABUF>(), 16),
        ("SYSTEM_INFO", size_of::<SYSTEM_INFO>(), 48),
        ("WSADATA", size_of::<WSADATA>(), 408),
        ("DWORD", size_of::<DWORD>(), 4),
        ("WORD", size_of::<WORD>(), 2),
        ("BYTE", size_of::<BYTE>(), 1),
        ("BOOL", size_of::<BOOL>(), 4),
        ("LONG", size_of::<LONG>(), 4),
        ("ULONG", size_of::<ULONG>(), 4),
        ("INT", size_of::<INT>(), 4),
        ("UINT", size_of::<UINT>(), 4),
        ("ULONG_PTR", size_of::<ULONG_PTR>(), 8),
        ("DWORD_PTR", size_of::<DWORD_PTR>(), 8),
        ("UINT_PTR", size_of::<UINT_PTR>(), 8),
        ("LONG_PTR", size_of::<LONG_PTR>(), 8),
        ("HANDLE", size_of::<HANDLE>(), 8),
        ("SOCKET", size_of::<SOCKET>(), 8),
        ("WSAEVENT", size_of::<HANDLE>(), 8),
        ("SIZE_T", size_of::<usize>(), 8),
        ("SECURITY_ATTRIBUTES", 24, 24),
        ("WSAPROTOCOL_INFOA", 372, 372),
        ("CRITICAL_SECTION", size_of::<CRITICAL_SECTION>(), 40),
        ("RTL_CRITICAL_SECTION", size_of::<CRITICAL_SECTION>(), 40),
        ("OSVERSIONINFOA", size_of::<OSVERSIONINFOA>(), 148),
        ("OSVERSIONINFOEXA", size_of::<OSVERSIONINFOEXA>(), 156),
        ("LARGE_INTEGER", size_of::<LARGE_INTEGER>(), 8),
        ("HRESULT", size_of::<LONG>(), 4),
        ("EXCEPTION_RECORD", 152, 152),
        ("SRWLOCK", size_of::<types_sync::SRWLOCK>(), 8),
        (
            "CONDITION_VARIABLE",
            size_of::<types_sync::CONDITION_VARIABLE>(),
            8,
        ),
        ("INIT_ONCE", size_of::<types_sync::INIT_ONCE>(), 8),
        ("SLIST_ENTRY", size_of::<types_sync::SLIST_ENTRY>(), 16),
        ("SLIST_HEADER", size_of::<types_sync::SLIST_HEADER>(), 16),
        ("FILETIME", size_of::<types_sync::FILETIME>(), 8),
        ("ULARGE_INTEGER", size_of::<types_sync::ULARGE_INTEGER>(), 8),
        (
            "TP_CALLBACK_ENVIRON_V3",
            size_of::<types_sync::TP_CALLBACK_ENVIRON_V3>(),
            72,
        ),
    ]
}

/// (C type, Rust alignment, Windows x64 alignment).
fn alignments() -> Vec<(&'static str, usize, usize)> {
    use std::mem::align_of;
    vec![
        ("SRWLOCK", align_of::<types_sync::SRWLOCK>(), 8),
        (
            "CONDITION_VARIABLE",
            align_of::<types_sync::CONDITION_VARIABLE>(),
            8,
        ),
        ("INIT_ONCE", align_of::<types_sync::INIT_ONCE>(), 8),
        ("SLIST_ENTRY", align_of::<types_sync::SLIST_ENTRY>(), 16),
        ("SLIST_HEADER", align_of::<types_sync::SLIST_HEADER>(), 16),
        ("FILETIME", align_of::<types_sync::FILETIME>(), 4),
        (
            "ULARGE_INTEGER",
            align_of::<types_sync::ULARGE_INTEGER>(),
            8,
        ),
    ]
}

/// (C type, field, Rust offset).
fn offsets() -> Vec<(&'static str, &'static str, usize)> {
    vec![
        ("OVERLAPPED", "Internal", offset_of!(OVERLAPPED, Internal)),
        (
            "OVERLAPPED",
            "InternalHigh",
            offset_of!(OVERLAPPED, InternalHigh),
        ),
        ("OVERLAPPED", "Offset", offset_of!(OVERLAPPED, Offset)),
        (
            "OVERLAPPED",
            "OffsetHigh",
            offset_of!(OVERLAPPED, OffsetHigh),
        ),
        ("OVERLAPPED", "Pointer", offset_of!(OVERLAPPED, Offset)),
        ("OVERLAPPED", "hEvent", offset_of!(OVERLAPPED, hEvent)),
        (
            "OVERLAPPED_ENTRY",
            "lpCompletionKey",
            offset_of!(OVERLAPPED_ENTRY, lpCompletionKey),
        ),
        (
            "OVERLAPPED_ENTRY",
            "lpOverlapped",
            offset_of!(OVERLAPPED_ENTRY, lpOverlapped),
        ),
        (
            "OVERLAPPED_ENTRY",
            "Internal",
            offset_of!(OVERLAPPED_ENTRY, Internal),
        ),
        (
            "OVERLAPPED_ENTRY",
            "dwNumberOfBytesTransferred",
            offset_of!(OVERLAPPED_ENTRY, dwNumberOfBytesTransferred),
        ),
        ("WSABUF", "len", offset_of!(WSABUF, len)),
        ("WSABUF", "buf", offset_of!(WSABUF, buf)),
        ("GUID", "Data1", offset_of!(GUID, Data1)),
        ("GUID", "Data2", offset_of!(GUID, Data2)),
        ("GUID", "Data3", offset_of!(GUID, Data3)),
        ("GUID", "Data4", offset_of!(GUID, Data4)),
        (
            "SYSTEM_INFO",
            "wProcessorArchitecture",
            offset_of!(SYSTEM_INFO, wProcessorArchitecture),
        ),
        (
            "SYSTEM_INFO",
            "dwPageSize",
            offset_of!(SYSTEM_INFO, dwPageSize),
        ),
        (
            "SYSTEM_INFO",
            "lpMinimumApplicationAddress",
            offset_of!(SYSTEM_INFO, lpMinimumApplicationAddress),
        ),
        (
            "SYSTEM_INFO",
            "dwActiveProcessorMask",
            offset_of!(SYSTEM_INFO, dwActiveProcessorMask),
        ),
        (
            "SYSTEM_INFO",
            "dwNumberOfProcessors",
            offset_of!(SYSTEM_INFO, dwNumberOfProcessors),
        ),
        (
            "SYSTEM_INFO",
            "dwProcessorType",
            offset_of!(SYSTEM_INFO, dwProcessorType),
        ),
        (
            "SYSTEM_INFO",
            "dwAllocationGranularity",
            offset_of!(SYSTEM_INFO, dwAllocationGranularity),
        ),
        (
            "SYSTEM_INFO",
            "wProcessorLevel",
            offset_of!(SYSTEM_INFO, wProcessorLevel),
        ),
        (
            "SYSTEM_INFO",
            "wProcessorRevision",
            offset_of!(SYSTEM_INFO, wProcessorRevision),
        ),
        ("WSADATA", "wVersion", offset_of!(WSADATA, wVersion)),
        ("WSADATA", "wHighVersion", offset_of!(WSADATA, wHighVersion)),
        ("WSADATA", "iMaxSockets", offset_of!(WSADATA, iMaxSockets)),
        ("WSADATA", "iMaxUdpDg", offset_of!(WSADATA, iMaxUdpDg)),
        ("WSADATA", "lpVendorInfo", offset_of!(WSADATA, lpVendorInfo)),
        (
            "WSADATA",
            "szDescription",
            offset_of!(WSADATA, szDescription),
        ),
        (
            "WSADATA",
            "szSystemStatus",
            offset_of!(WSADATA, szSystemStatus),
        ),
        (
            "CRITICAL_SECTION",
            "DebugInfo",
            offset_of!(CRITICAL_SECTION, DebugInfo),
        ),
        (
            "CRITICAL_SECTION",
            "LockCount",
            offset_of!(CRITICAL_SECTION, LockCount),
        ),
        (
            "CRITICAL_SECTION",
            "RecursionCount",
            offset_of!(CRITICAL_SECTION, RecursionCount),
        ),
        (
            "CRITICAL_SECTION",
            "OwningThread",
            offset_of!(CRITICAL_SECTION, OwningThread),
        ),
        (
            "CRITICAL_SECTION",
            "LockSemaphore",
            offset_of!(CRITICAL_SECTION, LockSemaphore),
        ),
        (
            "CRITICAL_SECTION",
            "SpinCount",
            offset_of!(CRITICAL_SECTION, SpinCount),
        ),
        (
            "OSVERSIONINFOA",
            "dwPlatformId",
            offset_of!(OSVERSIONINFOA, dwPlatformId),
        ),
        (
            "OSVERSIONINFOA",
            "szCSDVersion",
            offset_of!(OSVERSIONINFOA, szCSDVersion),
        ),
        (
            "OSVERSIONINFOEXA",
            "wServicePackMajor",
            offset_of!(OSVERSIONINFOEXA, wServicePackMajor),
        ),
        (
            "OSVERSIONINFOEXA",
            "wSuiteMask",
            offset_of!(OSVERSIONINFOEXA, wSuiteMask),
        ),
        (
            "OSVERSIONINFOEXA",
            "wProductType",
            offset_of!(OSVERSIONINFOEXA, wProductType),
        ),
        // Windows offsets of structures only the headers define.
        ("WSAPROTOCOL_INFOA", "iAddressFamily", 76),
        ("WSAPROTOCOL_INFOA", "iSocketType", 88),
        ("WSAPROTOCOL_INFOA", "iProtocol", 92),
        ("WSAPROTOCOL_INFOA", "szProtocol", 116),
        ("SECURITY_ATTRIBUTES", "lpSecurityDescriptor", 8),
        ("SECURITY_ATTRIBUTES", "bInheritHandle", 16),
        ("EXCEPTION_RECORD", "ExceptionAddress", 16),
        ("EXCEPTION_RECORD", "NumberParameters", 24),
        ("EXCEPTION_RECORD", "ExceptionInformation", 32),
        ("SRWLOCK", "Ptr", offset_of!(types_sync::SRWLOCK, Ptr)),
        (
            "SLIST_ENTRY",
            "Next",
            offset_of!(types_sync::SLIST_ENTRY, Next),
        ),
        (
            "SLIST_HEADER",
            "Alignment",
            offset_of!(types_sync::SLIST_HEADER, Alignment),
        ),
        (
            "SLIST_HEADER",
            "Region",
            offset_of!(types_sync::SLIST_HEADER, Region),
        ),
        (
            "FILETIME",
            "dwLowDateTime",
            offset_of!(types_sync::FILETIME, dwLowDateTime),
        ),
        (
            "FILETIME",
            "dwHighDateTime",
            offset_of!(types_sync::FILETIME, dwHighDateTime),
        ),
        ("ULARGE_INTEGER", "HighPart", 4),
        ("TP_CALLBACK_ENVIRON_V3", "Pool", 8),
        ("TP_CALLBACK_ENVIRON_V3", "CleanupGroup", 16),
        ("TP_CALLBACK_ENVIRON_V3", "CleanupGroupCancelCallback", 24),
        ("TP_CALLBACK_ENVIRON_V3", "RaceDll", 32),
        ("TP_CALLBACK_ENVIRON_V3", "FinalizationCallback", 48),
        ("TP_CALLBACK_ENVIRON_V3", "u", 56),
        ("TP_CALLBACK_ENVIRON_V3", "CallbackPriority", 60),
        ("TP_CALLBACK_ENVIRON_V3", "Size", 64),
        ("ULARGE_INTEGER", "QuadPart", 0),
    ]
}

/// The C program: one `kind name value` line per check.
fn program() -> String {
    let mut c = String::from(
        "#include <windows.h>\n#include <winsock2.h>\n#include <ws2tcpip.h>\n#include <mswsock.h>\n\
         #include <mstcpip.h>\n#include <strsafe.h>\n#include <cport_seh.h>\n\
         #include <stdio.h>\n#include <stddef.h>\n\n\
         int main(void) {\n\
         /* Same types, not merely the same sizes (an error in C++, a warning in C). */\n\
         { ULONG_PTR *p = (DWORD_PTR *)0; (void)p; }\n\
         { LPOVERLAPPED q = (LPWSAOVERLAPPED)0; (void)q; }\n\
         { WSAOVERLAPPED w; OVERLAPPED *r = &w; (void)r; }\n\
         { SOCKET s = (UINT_PTR)0; (void)s; }\n\
         { OVERLAPPED o; memset(&o, 0, sizeof o); o.Internal = STATUS_PENDING;\n\
           printf(\"macro HasOverlappedIoCompleted_pending %d\\n\", (int)HasOverlappedIoCompleted(&o));\n\
           o.Internal = 0;\n\
           printf(\"macro HasOverlappedIoCompleted_done %d\\n\", (int)HasOverlappedIoCompleted(&o)); }\n\
         printf(\"macro MAKEWORD_2_2 %d\\n\", (int)MAKEWORD(2, 2));\n\
         printf(\"const INVALID_HANDLE_VALUE %lld\\n\", (long long)(LONG_PTR)INVALID_HANDLE_VALUE);\n",
    );
    for (name, _) in ALL_CONSTANTS.iter().chain(types_sync::ALL_CONSTANTS) {
        writeln!(c, "printf(\"const {name} %lld\\n\", (long long)({name}));").unwrap();
    }
    for (ty, _, _) in alignments() {
        writeln!(
            c,
            "printf(\"align {ty} %zu\\n\", (size_t)__alignof__({ty}));"
        )
        .unwrap();
    }
    c.push_str(
        "{ SRWLOCK s = SRWLOCK_INIT; CONDITION_VARIABLE v = CONDITION_VARIABLE_INIT;\n\
           INIT_ONCE o = INIT_ONCE_STATIC_INIT;\n\
           printf(\"macro static_inits_zero %d\\n\", s.Ptr == NULL && v.Ptr == NULL && o.Ptr == NULL); }\n\
         printf(\"macro MAKELANGID_neutral_default %d\\n\", (int)MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT));\n",
    );
    for (ty, _, _) in sizes() {
        writeln!(c, "printf(\"size {ty} %zu\\n\", sizeof({ty}));").unwrap();
    }
    for (ty, field, _) in offsets() {
        writeln!(
            c,
            "printf(\"offset {ty}.{field} %zu\\n\", offsetof({ty}, {field}));"
        )
        .unwrap();
    }
    for (name, _) in ALL_GUIDS {
        writeln!(
            c,
            "{{ GUID g = {name}; printf(\"guid {name} %08x-%04x-%04x-%02x%02x%02x%02x%02x%02x%02x%02x\\n\", \
             g.Data1, g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3], \
             g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7]); }}"
        )
        .unwrap();
    }
    c.push_str("return 0;\n}\n");
    c
}

/// What the program must print, line by line.
fn expected() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("macro HasOverlappedIoCompleted_pending".into(), "0".into());
    m.insert("macro HasOverlappedIoCompleted_done".into(), "1".into());
    m.insert("macro MAKEWORD_2_2".into(), "514".into());
    m.insert(
        "const INVALID_HANDLE_VALUE".into(),
        (INVALID_HANDLE_VALUE as i64).to_string(),
    );
    for (name, v) in ALL_CONSTANTS.iter().chain(types_sync::ALL_CONSTANTS) {
        m.insert(format!("const {name}"), (*v as i64).to_string());
    }
    for (ty, rust, windows) in alignments() {
        assert_eq!(
            rust, windows,
            "Rust alignment of {ty} differs from Windows x64"
        );
        m.insert(format!("align {ty}"), windows.to_string());
    }
    m.insert("macro static_inits_zero".into(), "1".into());
    m.insert("macro MAKELANGID_neutral_default".into(), "1024".into());
    for (ty, rust, windows) in sizes() {
        assert_eq!(rust, windows, "Rust size of {ty} differs from Windows x64");
        m.insert(format!("size {ty}"), windows.to_string());
    }
    for (ty, field, off) in offsets() {
        m.insert(format!("offset {ty}.{field}"), off.to_string());
    }
    for (name, g) in ALL_GUIDS {
        let d = g.Data4;
        m.insert(
            format!("guid {name}"),
            format!(
                "{:08x}-{:04x}-{:04x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                g.Data1, g.Data2, g.Data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
            ),
        );
    }
    m
}

fn check(cxx: bool) {
    let src = common::out_dir().join(if cxx { "layout_cxx.c" } else { "layout.c" });
    std::fs::write(&src, program()).unwrap();
    let exe = common::compile_with(&src, if cxx { "layout_cxx" } else { "layout" }, cxx, &[]);
    let out = common::run(&exe, "auto", &[], Duration::from_secs(10));
    assert!(out.status.success(), "layout program failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let want = expected();
    let mut mismatches = Vec::new();
    for (k, v) in &want {
        match got.get(k) {
            Some(g) if g == v => {}
            other => mismatches.push(format!("{k}: header {other:?}, Rust {v}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "header and Rust disagree ({}):\n{}",
        if cxx { "C++" } else { "C" },
        mismatches.join("\n")
    );
}

#[test]
fn header_matches_rust_in_c() {
    check(false);
}

#[test]
fn header_matches_rust_in_cxx() {
    check(true);
}
