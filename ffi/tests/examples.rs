//! The example programs of `ffi/examples/c`, built the way docs/porting.md
//! says — against the library as `make install` installs it, with nothing but
//! `cc prog.c $(pkg-config --cflags --libs cport)` (the shared library) — and
//! run on each backend:
//!
//! * the IOCP echo server under load from the IOCP echo client (every byte
//!   checked by the client), its fd count back to where it was once the
//!   clients left, then SIGINT → exit status 0 with no socket left open; and
//!   the server started again at once on the same port, while connections of
//!   the first instance sit in TIME_WAIT;
//! * the same for the echo server on the thread pool;
//! * the overlapped copy, byte-exact on a 64 MiB file (and odd and empty ones);
//! * and each example also compiled as C++, and for Windows with mingw-w64
//!   when it is installed (that it builds unchanged is the point).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    common::root()
        .join("ffi/examples/c")
        .join(format!("{name}.c"))
}

/// `cc` (or `c++`) `-Wall -Wextra -Werror -O2 prog.c -o exe $(pkg-config
/// --cflags --libs cport)`, against a `make install`ed prefix.
fn build(name: &str, cxx: bool) -> PathBuf {
    let prefix = common::installed_prefix();
    let exe = common::out_dir().join(if cxx {
        format!("{name}_cxx")
    } else {
        name.to_string()
    });
    let mut cmd = Command::new(if cxx { "c++" } else { "cc" });
    cmd.args(["-Wall", "-Wextra", "-Werror", "-O2"]);
    if cxx {
        cmd.args(["-x", "c++"]);
    }
    cmd.arg(example(name));
    if cxx {
        cmd.args(["-x", "none"]);
    }
    // Tests running at once build the same client: each builds its own
    // file and renames it into place.
    let built = common::build_path(&exe);
    let out = cmd
        .arg("-o")
        .arg(&built)
        .args(common::pkg_config(prefix, &["--cflags", "--libs"]))
        .output()
        .expect("cannot run the C compiler");
    assert!(
        out.status.success(),
        "building {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::install_built(&built, &exe);
    exe
}

/// The program, run against the installed shared library (found through its
/// SONAME, libcport.so.<major>, in the prefix's lib/).
fn command(exe: &Path, backend: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env("LD_LIBRARY_PATH", common::installed_prefix().join("lib"))
        .env("CPORT_BACKEND", backend);
    cmd
}

/// Runs a program to the end within `limit`: (status, stdout, stderr).
fn run(exe: &Path, backend: &str, args: &[&str], limit: Duration) -> (bool, String, String) {
    let mut cmd = command(exe, backend);
    cmd.args(args);
    let out = common::run_command(cmd, limit);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running echo server; killed if a test fails before it exits.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: String,
}

impl Server {
    fn start(exe: &Path, backend: &str, port: u16, extra: &[&str]) -> (Server, u16) {
        let mut child = command(exe, backend)
            .args([format!("-e:{port}"), "-t:4".into(), "-a:8".into()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut s = Server {
            child,
            lines: rx,
            output: String::new(),
        };
        let line = s.line_containing("listening on port", Duration::from_secs(10));
        let port = line.rsplit(' ').next().unwrap().parse().unwrap();
        // Printed once the workers run and the AcceptEx calls are pending.
        s.line_containing("accepts pending", Duration::from_secs(10));
        (s, port)
    }

    fn line_containing(&mut self, what: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.output += &l;
                    self.output.push('\n');
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no {what:?} from the server; output so far:\n{}",
                    self.output
                ),
            }
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The names of the server's threads.
    fn threads(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .map(|t| {
                std::fs::read_to_string(t.unwrap().path().join("comm"))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// SIGINT, then the exit status and the rest of the output.
    fn interrupt(mut self, limit: Duration) -> (bool, String) {
        // SAFETY: kill with a pid of our own child and a plain signal number.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGINT) }, 0);
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < limit,
                "the server did not exit within {limit:?} of SIGINT; output:\n{}",
                self.output
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.output += &l;
            self.output.push('\n');
        }
        (status.success(), std::mem::take(&mut self.output))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `f` holds, for at most `limit`.
fn eventually(limit: Duration, f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// Whether a TCP connection with local port `port` is in TIME_WAIT.
fn time_wait_on(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].rsplit(':').next() == Some(&format!("{port:04X}")) && f[3] == "06"
    })
}

fn client(exe: &Path, backend: &str, port: u16, args: &[&str]) -> String {
    let mut all = vec![format!("-e:{port}")];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let (ok, out, err) = run(exe, backend, &all, Duration::from_secs(60));
    assert!(ok, "client {all:?} ({backend}) failed:\n{out}{err}");
    assert!(out.contains("errors 0, mismatches 0"), "{out}");
    out
}

#[test]
fn echo_server_under_client_load_then_sigint_and_restart() {
    serve_load_then_sigint_and_restart("iocp_echo_server");
}

/// The same for the echo server on the thread pool (CreateThreadpoolIo with
/// AcceptEx, WSARecv and WSASend).
#[test]
fn tp_echo_server_under_client_load_then_sigint_and_restart() {
    serve_load_then_sigint_and_restart("tp_echo_server");
}

fn serve_load_then_sigint_and_restart(server_name: &str) {
    let server = build(server_name, false);
    let client_exe = build("iocp_echo_client", false);
    for backend in common::backends() {
        let (srv, port) = Server::start(&server, backend, 0, &[]);
        let baseline = srv.fds();

        // Connections that stay open through the load and the SIGINT.
        let mut idle: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"?").unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                assert_eq!(&b, b"?");
                s
            })
            .collect();

        let out = client(&client_exe, backend, port, &["-c:32", "-b:1000", "-r:300"]);
        assert!(out.contains("requests 9600,"), "{out}");
        // Messages larger than the server's buffer: partial echoes.
        let out = client(&client_exe, backend, port, &["-c:8", "-b:100000", "-r:20"]);
        assert!(out.contains("requests 160,"), "{out}");
        let out = client(&client_exe, backend, port, &["-c:64", "-b:64", "-d:1"]);
        assert!(out.contains("requests/s"), "{out}");

        if server_name == "iocp_echo_server" {
            // The program's own threads only: main, its 4 workers (-t:4) and
            // the console-control thread its SetConsoleCtrlHandler starts;
            // the workers in GetQueuedCompletionStatus reap the kernel.
            let threads = srv.threads();
            assert_eq!(threads.len(), 6, "{backend}: threads {threads:?}");
            assert_eq!(
                threads
                    .iter()
                    .filter(|t| t.as_str() == "cport-ctrl")
                    .count(),
                1,
                "{backend}: threads {threads:?}"
            );
        }

        // Every connection of the clients is gone again: only the idle ones remain.
        assert!(
            eventually(Duration::from_secs(5), || srv.fds()
                == baseline + idle.len()),
            "{backend}: the server has {} fds, expected {} + {}",
            srv.fds(),
            baseline,
            idle.len()
        );

        let (ok, output) = srv.interrupt(Duration::from_secs(15));
        assert!(ok, "{backend}: exit status after SIGINT; output:\n{output}");
        assert!(output.contains(", open 0"), "{output}");
        assert!(output.contains("sockets: 0"), "{output}");
        // The server closed the idle connections (gracefully, first).
        for s in &mut idle {
            let mut b = [0u8; 1];
            assert_eq!(s.read(&mut b).unwrap(), 0);
        }
        drop(idle);
        assert!(
            eventually(Duration::from_secs(5), || time_wait_on(port)),
            "{backend}: no TIME_WAIT connection on port {port}"
        );

        // Started again on the same port at once, and it serves.
        let (srv, again) = Server::start(&server, backend, port, &[]);
        assert_eq!(again, port);
        client(&client_exe, backend, port, &["-c:4", "-b:512", "-r:50"]);
        let (ok, output) = srv.interrupt(Duration::from_secs(15));
        assert!(ok && output.contains("sockets: 0"), "{output}");
    }
}

/// The examples compiled as C++ work too; the server here in
/// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS mode (`-s`: operations that complete
/// at once are handled in place, without a packet).
#[test]
fn echo_examples_as_cxx_and_skip_mode() {
    let server = build("iocp_echo_server", true);
    let client_exe = build("iocp_echo_client", true);
    for backend in common::backends() {
        let (srv, port) = Server::start(&server, backend, 0, &["-s"]);
        let out = client(&client_exe, backend, port, &["-c:16", "-b:256", "-r:100"]);
        assert!(out.contains("requests 1600,"), "{out}");
        let out = client(&client_exe, backend, port, &["-c:4", "-b:100000", "-r:10"]);
        assert!(out.contains("requests 40,"), "{out}");
        let (ok, output) = srv.interrupt(Duration::from_secs(15));
        assert!(ok && output.contains("sockets: 0"), "{output}");
        assert!(output.contains("messages "), "{output}");
    }
    build("overlapped_copy", true);
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn overlapped_copy_is_byte_exact() {
    let exe = build("overlapped_copy", false);
    let dir = common::out_dir();
    let cases: [(&str, usize, &[&str]); 3] = [
        ("64MiB", 64 << 20, &["-k:256", "-q:8"]),
        ("odd", (1 << 20) + 13, &["-k:64", "-q:16"]),
        ("empty", 0, &[]),
    ];
    for backend in common::backends() {
        for (name, size, opts) in cases {
            let src = dir.join(format!("copy-{name}.src"));
            let dst = dir.join(format!("copy-{name}-{backend}.dst"));
            let data = bytes(size, size as u64 + 7);
            std::fs::write(&src, &data).unwrap();
            let _ = std::fs::remove_file(&dst);
            let mut args = vec![src.to_str().unwrap(), dst.to_str().unwrap()];
            args.extend_from_slice(opts);
            let (ok, out, err) = run(&exe, backend, &args, Duration::from_secs(60));
            assert!(ok, "copy {name} ({backend}):\n{out}{err}");
            assert!(out.contains(&format!("copied {size} bytes")), "{out}");
            let copy = std::fs::read(&dst).unwrap();
            assert!(copy == data, "copy {name} ({backend}) differs");
            std::fs::remove_file(&dst).unwrap();
        }
    }
    // A missing source: a Win32 error, exit 1.
    let (ok, out, _) = run(
        &exe,
        "auto",
        &["/nonexistent/file", "/tmp/never"],
        Duration::from_secs(10),
    );
    assert!(
        !ok && out.contains("cannot open /nonexistent/file: 3"),
        "{out}"
    );
}

/// The same sources build for Windows with mingw-w64 (skipped, with a note,
/// where it is not installed).
#[test]
fn examples_build_for_windows_with_mingw() {
    let gcc = "x86_64-w64-mingw32-gcc";
    if Command::new(gcc).arg("--version").output().is_err() {
        common::skip_note(
            "examples_build_for_windows_with_mingw",
            &format!("{gcc} not installed (Debian: gcc-mingw-w64-x86-64)"),
        );
        return;
    }
    for name in [
        "iocp_echo_server",
        "tp_echo_server",
        "iocp_echo_client",
        "overlapped_copy",
    ] {
        let exe = common::out_dir().join(format!("{name}.exe"));
        let out = Command::new(gcc)
            .args(["-Wall", "-Wextra", "-Werror", "-O2"])
            .arg(example(name))
            .arg("-o")
            .arg(&exe)
            .args(["-lws2_32", "-lmswsock"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} for Windows: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let head = std::fs::read(&exe).unwrap();
        assert_eq!(&head[..2], b"MZ", "{name}.exe is not a Windows executable");
    }
}
