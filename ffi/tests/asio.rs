//! Asio's Windows backend on cport: the programs in `ffi/tests/asio/`
//! (written for this project; they include Debian's unchanged
//! `libasio-dev` headers) are compiled exactly as a Windows program is
//! built against cport —
//! `c++ -std=c++17 -D_WIN32 -D_WIN32_WINNT=0x0A00 -I include/win32 prog.cpp -L <libcport dir> -lcport -lpthread`
//! — and run on each backend; each must exit 0 and print `<name>: ok`.
//!
//! Without Asio's headers the tests fail when `CPORT_REQUIRE_ASIO=1` (CI
//! installs `libasio-dev`) and otherwise pass with a
//! `cport-test-skip: asio: libasio-dev not installed` line on stderr.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Whether Asio's headers are installed; if not, fails under
/// `CPORT_REQUIRE_ASIO=1` and otherwise says that the test is skipped.
fn asio_available() -> bool {
    let found = Command::new("c++")
        .args(["-std=c++17", "-E", "-x", "c++", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"#include <asio/version.hpp>\n")?;
            c.wait()
        })
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CPORT_REQUIRE_ASIO").as_deref() != Ok("1"),
            "CPORT_REQUIRE_ASIO=1 but Asio's headers are missing (apt-get install -y libasio-dev g++)"
        );
        eprintln!("cport-test-skip: asio: libasio-dev not installed");
    }
    found
}

/// Compiles `ffi/tests/asio/<name>.cpp` with the build line of a Windows
/// program on cport, against the shared libcport of this test's profile.
fn compile(name: &str) -> (PathBuf, PathBuf) {
    let lib_dir = common::libcport().parent().unwrap().to_path_buf();
    let src = common::root()
        .join("ffi/tests/asio")
        .join(format!("{name}.cpp"));
    let exe = common::out_dir().join(format!("asio_{name}"));
    let out = Command::new("c++")
        .args(["-std=c++17", "-D_WIN32", "-D_WIN32_WINNT=0x0A00", "-I"])
        .arg(common::root().join("include/win32"))
        .arg(&src)
        .arg("-L")
        .arg(&lib_dir)
        .args(["-lcport", "-lpthread", "-o"])
        .arg(&exe)
        .output()
        .expect("cannot run c++");
    assert!(
        out.status.success(),
        "c++ {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (exe, lib_dir)
}

fn run_program(name: &str) {
    if !asio_available() {
        return;
    }
    let (exe, lib_dir) = compile(name);
    for backend in common::backends() {
        let env: [(&str, &Path); 1] = [("LD_LIBRARY_PATH", &lib_dir)];
        let out = common::run_env(&exe, backend, &env, &[], Duration::from_secs(120));
        common::assert_ran_ok(
            &out,
            &format!("{name} on {backend}"),
            &format!("{name}: ok"),
        );
    }
}

/// A multi-threaded echo server (4 threads, concurrency hint 2): a 1 MiB
/// exchange checked byte by byte, resets, a flood of 32 clients,
/// half-closes; the acceptor closed with a pending accept.
#[test]
fn asio_tcp_echo_server() {
    run_program("tcp_echo");
}

/// steady_timer waits, cancellation, re-arming and ordering;
/// post/dispatch/defer; strand ordering under 4 threads; work guards,
/// stop() and restart().
#[test]
fn asio_timers_and_executors() {
    run_program("timers_executors");
}

/// Close/cancel with pending operations, eof, async_read_until,
/// connection_refused, UDP, the resolver, address strings, options and
/// readiness waits (Asio's select reactor).
#[test]
fn asio_sockets() {
    run_program("sockets");
}

/// object_handle on an event, random_access_handle at offsets,
/// stream_handle, serial_port on a pseudo-terminal and on a file,
/// connect_pipe.
#[test]
fn asio_handles() {
    run_program("handles");
}
