//! Helpers the `cport` binary's test files share: the binary's path, output
//! as text and JSON, starting `cport echo` on a free port, and stopping a
//! child with a signal. Each test file includes it with `mod common;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `cport` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cport");

/// Output bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The command's stdout as JSON; a panic showing both streams if it is not.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} / {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// Starts `cport echo --addr 127.0.0.1:0 --backend <backend> --workers 2`
/// and reads its first banner line: the child, the rest of its stdout and
/// the address it listens on; `Err` with its stderr if it exited instead.
pub fn spawn_echo(backend: &str) -> Result<(Child, BufReader<ChildStdout>, SocketAddr), String> {
    let mut child = Command::new(BIN)
        .args([
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--backend",
            backend,
            "--workers",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cport echo");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let Some(addr) = first.trim().strip_prefix("listening on ") else {
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!status.success(), "echo exited 0 without listening: {err}");
        return Err(err);
    };
    Ok((child, stdout, addr.parse().unwrap()))
}

/// Sends `signal` to `child` and returns its exit status; kills it and
/// panics if it has not exited within 10 s.
pub fn signal_and_wait(child: &mut Child, signal: libc::c_int) -> ExitStatus {
    // SAFETY: kill has no memory-safety preconditions; the child is not
    // reaped yet, so its pid is still its own.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("cport echo did not exit within 10 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
