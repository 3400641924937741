//! The C ABI, as a Windows program observes it: one C program per area
//! (`ffi/tests/c/*.c`), compiled against `include/win32` and libcport, run on
//! each backend (io_uring where available, and epoll). Every program checks
//! return values, last-error values and the OVERLAPPED pointer of every
//! packet, and exits non-zero at the first mismatch, printing file:line and
//! both values.

mod common;

use std::process::Command;

/// GQCS / GQCSEx / PQCS return matrix, LIFO release, the concurrency limit
/// with Sleep, close waking waiters with 735, stale handles.
#[test]
fn port() {
    common::run_c_test("port");
}

/// Association rules, WSARecv/WSASend with OVERLAPPED results, inline
/// completion, skip-on-success, zero-byte receive, hEvent low bit, graceful close.
#[test]
fn sockets() {
    common::run_c_test("sockets");
}

/// AcceptEx (+ first data), GetAcceptExSockaddrs, ConnectEx (+ first data,
/// refused → 1225), association after issue.
#[test]
fn acceptex_connectex() {
    common::run_c_test("acceptex");
}

/// closesocket → 1236 / 995, CancelIoEx → 995 then 1168, CancelIo per thread,
/// thread exit, peer reset → 64 then 10054, closesocket waking blocked calls.
#[test]
fn cancel_close_reset() {
    common::run_c_test("cancel");
}

/// Overlapped files at 64-bit offsets, EOF → 38, GetOverlappedResult, sync handles.
#[test]
fn files() {
    common::run_c_test("files");
}

/// WSASendTo / WSARecvFrom with the source address, datagram boundaries.
#[test]
fn udp() {
    common::run_c_test("udp");
}

/// Events, waits, WSAGetOverlappedResult with and without wait.
#[test]
fn events() {
    common::run_c_test("events");
}

/// NULL / stale / foreign / wrong-type handles, double close, bad buffers,
/// the panic boundary, no fd leaked.
#[test]
fn bad_input() {
    common::run_c_test("badinput");
}

/// The classic server shape under load: workers, pre-posted AcceptEx,
/// WSARecv → WSASend echo, shutdown by posted packets; clients check every byte.
#[test]
fn echo_server_under_load() {
    common::run_c_test("echo");
}

/// The headers from C++ (`extern "C"`, no C-only constructs): the socket and
/// AcceptEx programs compiled as C++ run as well.
#[test]
fn headers_work_from_cxx() {
    for name in ["sockets", "acceptex"] {
        let src = common::root().join("ffi/tests/c").join(format!("{name}.c"));
        let exe = common::compile_with(&src, &format!("{name}_cxx"), true, &[]);
        let out = common::run(&exe, "auto", &[], std::time::Duration::from_secs(30));
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
            "{name} as C++: {out:?}"
        );
    }
}

/// SPEC §7's own command line: `cc -I include/win32 prog.c -L target/<profile>
/// -lcport -lpthread` (which picks the shared library) builds and runs.
#[test]
fn spec_command_line_with_the_shared_library() {
    common::libcport();
    let dir = common::profile_dir();
    assert!(
        dir.join("libcport.so").exists(),
        "libcport.so missing in {}",
        dir.display()
    );
    let exe = common::out_dir().join("port_shared");
    let out = Command::new("cc")
        .arg("-I")
        .arg(common::root().join("include/win32"))
        .arg("-I")
        .arg(common::root().join("ffi/tests/c"))
        .arg(common::root().join("ffi/tests/c/port.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&dir)
        .args(["-lcport", "-lpthread"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("port: ok"),
        "{out:?}"
    );
}

/// CreateThread and thread handles (waits, exit codes, suspend, close while
/// running, exit frees the port slot), recursive and contended critical
/// sections (a contended Enter is a blocking section), the process heap,
/// Interlocked*, and their bad input.
#[test]
fn threads_critical_sections_heap() {
    common::run_c_test("threads");
}

/// Console control handlers: the chain (newest first until TRUE), their own
/// threads (a blocked handler does not hold up the next event),
/// GenerateConsoleCtrlEvent, real signals, the CTRL_C ignore flag; and, from
/// outside, how the process ends: an unhandled CTRL_C (signal or generated)
/// ends it by SIGINT, CTRL_SHUTDOWN (SIGTERM) and CTRL_CLOSE (SIGHUP) end it
/// after the handler returns TRUE, a handled CTRL_BREAK (SIGQUIT) does not.
#[test]
fn console_control_handlers() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;
    common::run_c_test("console");
    let exe = common::compile("console");
    let cases = [
        ("unhandled-int", libc::SIGINT, Some("declined 0"), None),
        ("generate", libc::SIGINT, None, None),
        ("term", libc::SIGTERM, Some("handled 6"), Some("declined")),
        ("hup", libc::SIGHUP, Some("handled 2"), Some("declined")),
    ];
    for (mode, sig, want, unwanted) in cases {
        let out = common::run(&exe, "auto", &[mode], Duration::from_secs(20));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.signal(),
            Some(sig),
            "{mode}: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(w) = want {
            assert!(stdout.contains(w), "{mode}: stdout {stdout:?}");
        }
        if let Some(u) = unwanted {
            assert!(!stdout.contains(u), "{mode}: stdout {stdout:?}");
        }
        assert!(!stdout.contains("still alive"), "{mode}: {stdout:?}");
    }
    let out = common::run(&exe, "auto", &["quit"], Duration::from_secs(20));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("survived"),
        "quit: {out:?}"
    );
}

/// strsafe.h, lstr*, GetVersionEx, tchar.h's _tmain, the macros, the clocks,
/// getnameinfo; and GetStdHandle + WriteFile / WriteConsoleA/W writing to a
/// redirected stdout (what arrives in the pipe is checked here).
#[test]
fn strings_versions_std_handles() {
    let exe = common::compile("strings");
    for backend in common::backends() {
        let out = common::run(&exe, backend, &[], std::time::Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("strings: ok"),
            "{backend}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains("via WriteFile\nvia WriteConsole 7\nwide \u{e9}\n"),
            "{stdout:?}"
        );
        assert!(stderr.contains("stderr still works"), "{stderr:?}");
    }
}
