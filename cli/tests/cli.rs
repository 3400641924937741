//! The `cport` binary as a user runs it: echo + load on each backend, the
//! benchmark, copy, info, --help texts and error exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

#[path = "../../tests/util/skip.rs"]
mod skip;
use skip::skip_note;

mod common;
use common::{signal_and_wait, spawn_echo, text, BIN};

fn cport(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cport")
}

/// An io_uring part of a test that cannot run here: a failure when
/// `CPORT_REQUIRE_URING=1` (CI, where io_uring must work), else a skip note.
fn uring_skip(what: &str, why: &str) {
    assert!(
        std::env::var("CPORT_REQUIRE_URING").as_deref() != Ok("1"),
        "{what}: io_uring unavailable but CPORT_REQUIRE_URING=1: {why}"
    );
    skip_note(what, why);
}

/// A run-time failure: exit status 1, the expected words in the message, and
/// no panic.
fn assert_fails(args: &[&str], expect: &str) {
    assert_exits(args, expect, 1);
}

/// A command line the tool cannot run: exit status 2 (clap's convention),
/// the expected words in the message, and no panic.
fn assert_usage_error(args: &[&str], expect: &str) {
    assert_exits(args, expect, 2);
}

fn assert_exits(args: &[&str], expect: &str, code: i32) {
    let out = cport(args);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: stdout {} stderr {stderr}",
        text(&out.stdout)
    );
    assert!(
        stderr.to_lowercase().contains(&expect.to_lowercase()),
        "{args:?}: expected {expect:?} in stderr, got: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{args:?}: {stderr}");
}

struct Echo {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

/// Starts `cport echo` on a free port; `None` if the backend is unavailable
/// here (io_uring disabled), which the caller reports as skipped.
fn start_echo(backend: &str) -> Option<Echo> {
    let (child, mut stdout, addr) = match spawn_echo(backend) {
        Ok(started) => started,
        Err(err) => {
            assert!(
                err.contains("io_uring is unavailable"),
                "echo failed to start: {err}"
            );
            uring_skip("cli::start_echo", err.trim());
            return None;
        }
    };
    let mut backend_line = String::new();
    stdout.read_line(&mut backend_line).unwrap();
    if backend != "auto" {
        let want = if backend == "uring" {
            "io_uring"
        } else {
            backend
        };
        assert!(
            backend_line.starts_with(&format!("backend {want}")),
            "{backend_line}"
        );
    }
    Some(Echo {
        child,
        stdout,
        addr,
    })
}

impl Echo {
    /// SIGTERM; returns the rest of its stdout after asserting a clean exit.
    fn stop(self) -> String {
        self.stop_with(libc::SIGTERM)
    }

    fn stop_with(mut self, signal: libc::c_int) -> String {
        let status = signal_and_wait(&mut self.child, signal);
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "echo exited with {status}: {rest} {err}");
        assert!(rest.contains("stopped after"), "no stats line: {rest}");
        assert!(rest.contains("operations completed"), "{rest}");
        rest
    }
}

fn json_field(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn echo_and_load(backend: &str) {
    let Some(echo) = start_echo(backend) else {
        return;
    };
    let addr = echo.addr.to_string();
    let out = cport(&[
        "load",
        "--addr",
        &addr,
        "--duration",
        "1s",
        "--conns",
        "8",
        "--depth",
        "2",
        "--size",
        "100",
        "--backend",
        backend,
        "--json",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "load failed: {stdout} {}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("load --json output");
    assert!(json_field(&v, "requests") > 0.0, "{v}");
    assert_eq!(json_field(&v, "errors"), 0.0, "{v}");
    assert!(json_field(&v, "p99_us") > 0.0, "{v}");
    let stats = echo.stop();
    assert!(stats.contains("8 connections"), "{stats}");
    assert!(stats.contains(" 0 errors"), "{stats}");
}

#[test]
fn echo_and_load_on_io_uring() {
    echo_and_load("uring");
}

#[test]
fn echo_and_load_on_epoll() {
    echo_and_load("epoll");
}

#[test]
fn load_prints_a_summary_line() {
    let Some(echo) = start_echo("auto") else {
        return;
    };
    let out = cport(&[
        "load",
        "--addr",
        &echo.addr.to_string(),
        "--duration",
        "300ms",
        "--conns",
        "2",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    for word in ["req/s", "p50", "p99", "p999", "errors 0"] {
        assert!(stdout.contains(word), "{word:?} missing in {stdout}");
    }
    echo.stop();
}

#[test]
fn echo_exits_cleanly_on_sigterm_with_open_connections() {
    let Some(echo) = start_echo("auto") else {
        return;
    };
    let mut conns = Vec::new();
    for i in 0..3u8 {
        let mut s = TcpStream::connect(echo.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg = [i; 1000];
        s.write_all(&msg).unwrap();
        let mut back = [0u8; 1000];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
        conns.push(s);
    }
    let stats = echo.stop();
    assert!(stats.contains("3 connections"), "{stats}");
    // The server closed our connections on the way out.
    for mut s in conns {
        let mut buf = [0u8; 16];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
}

#[test]
fn echo_exits_cleanly_on_ctrl_c() {
    let Some(echo) = start_echo("auto") else {
        return;
    };
    let mut s = TcpStream::connect(echo.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    let stats = echo.stop_with(libc::SIGINT);
    assert!(stats.contains("1 connections"), "{stats}");
    assert!(stats.contains("operations completed"), "{stats}");
}

#[test]
fn bench_runs_every_server() {
    let out = cport(&[
        "bench",
        "--duration",
        "400ms",
        "--rounds",
        "2",
        "--warmup",
        "0",
        "--conns",
        "4",
        "--json",
    ]);
    let stdout = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bench --json: {e}: {stdout} {}", text(&out.stderr)));
    let servers = v["servers"].as_array().expect("servers");
    let io_uring_missing = servers.iter().any(|s| s["unavailable"].is_string());
    if io_uring_missing {
        uring_skip(
            "cli::bench_runs_every_server",
            "io_uring unavailable here: only the epoll-based servers were measured",
        );
    }
    assert!(out.status.success(), "{v} {}", text(&out.stderr));
    assert_eq!(servers.len(), 6, "{v}");
    for s in servers {
        let name = s["server"].as_str().unwrap();
        if io_uring_missing && name.contains("uring") {
            assert!(s["unavailable"].is_string(), "{s}");
            continue;
        }
        assert!(json_field(s, "requests") > 0.0, "{s}");
        assert_eq!(json_field(s, "errors"), 0.0, "{s}");
        assert!(s["cpu_us_per_msg"].is_number(), "{s}");
        assert!(s["unavailable"].is_null(), "{s}");
        // min <= median <= max over the rounds, the median being the row's.
        for key in ["requests_per_sec", "p50_us", "p99_us", "cpu_us_per_msg"] {
            let o = &s["over_rounds"][key];
            let (min, median, max) = (
                json_field(o, "min"),
                json_field(o, "median"),
                json_field(o, "max"),
            );
            assert!(min <= median && median <= max, "{key}: {o}");
        }
        assert_eq!(
            json_field(&s["over_rounds"]["requests_per_sec"], "median"),
            json_field(s, "requests_per_sec"),
            "{s}"
        );
    }
    for key in ["version", "kernel", "cpu_model", "timestamp"] {
        assert!(v["run"][key].is_string(), "run.{key} missing: {v}");
    }
    assert_eq!(v["run"]["version"], env!("CARGO_PKG_VERSION"));
    if !io_uring_missing {
        assert!(out.status.success());
        assert_eq!(v["ratios"].as_array().unwrap().len(), 9, "{v}");
    }
}

#[test]
fn bench_table_and_plot() {
    let svg = scratch("plot.svg");
    let out = cport(&[
        "bench",
        "--duration",
        "200ms",
        "--rounds",
        "1",
        "--warmup",
        "0",
        "--conns",
        "2",
        "--servers",
        "cport-epoll,epoll",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    for word in [
        "req/s",
        "p50 µs",
        "p99 µs",
        "CPU µs/msg",
        "cport epoll",
        "plain epoll",
        "÷",
    ] {
        assert!(stdout.contains(word), "{word:?} missing in {stdout}");
    }
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg") && plot.contains("polyline"),
        "{plot}"
    );
    let _ = std::fs::remove_file(svg);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cport-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn copy_with(backend: &str) {
    // A few MiB that do not end on a block boundary, with varied bytes.
    let len = 3 * 1024 * 1024 + 12_345;
    let mut x: u64 = 0x1234_5678_9abc_def0;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let src = scratch(&format!("src-{backend}.bin"));
    let dst = scratch(&format!("dst-{backend}.bin"));
    std::fs::write(&src, &data).unwrap();
    let out = cport(&[
        "copy",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--block",
        "64KiB",
        "--depth",
        "4",
        "--backend",
        backend,
    ]);
    let stdout = text(&out.stdout);
    if !out.status.success() && text(&out.stderr).contains("io_uring is unavailable") {
        uring_skip("cli::copy_with(uring)", text(&out.stderr).trim());
        return;
    }
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    assert!(stdout.contains("copied"), "{stdout}");
    let copied = std::fs::read(&dst).unwrap();
    assert_eq!(copied.len(), data.len());
    assert!(copied == data, "the copy differs from the source");
    let _ = std::fs::remove_file(src);
    let _ = std::fs::remove_file(dst);
}

#[test]
fn copy_is_byte_exact_on_io_uring() {
    copy_with("uring");
}

#[test]
fn copy_is_byte_exact_on_epoll() {
    copy_with("epoll");
}

#[test]
fn copy_errors() {
    let missing = scratch("does-not-exist");
    let dst = scratch("copy-errors-dst");
    assert_fails(
        &["copy", missing.to_str().unwrap(), dst.to_str().unwrap()],
        "No such file",
    );
    assert!(!dst.exists());
    let src = scratch("copy-errors-src");
    std::fs::write(&src, vec![7u8; 100_000]).unwrap();
    // No space: /dev/full fails every write with ENOSPC.
    if std::path::Path::new("/dev/full").exists() {
        assert_fails(
            &["copy", src.to_str().unwrap(), "/dev/full"],
            "No space left",
        );
    }
    // The destination's directory does not exist.
    let nodir = scratch("no-such-dir").join("x");
    assert_fails(
        &["copy", src.to_str().unwrap(), nodir.to_str().unwrap()],
        "cannot create",
    );
    assert_fails(
        &["copy", src.to_str().unwrap(), src.to_str().unwrap()],
        "same file",
    );
    assert_usage_error(
        &[
            "copy",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--block",
            "0",
        ],
        "at least 1 byte",
    );
    // No permission: a file even root cannot write.
    assert_fails(
        &["copy", src.to_str().unwrap(), "/proc/sys/kernel/osrelease"],
        "ermission denied",
    );
    let _ = std::fs::remove_file(src);
}

#[test]
fn load_and_echo_errors() {
    assert_usage_error(
        &["load", "--addr", "not-an-address", "--duration", "1s"],
        "invalid address",
    );
    assert_usage_error(&["load", "--size", "0"], "at least 1 byte");
    assert_usage_error(&["load", "--size", "100GiB"], "at most");
    assert_usage_error(&["load", "--duration", "0"], "greater than 0");
    assert_usage_error(&["load", "--duration", "5 parsecs"], "duration");
    assert_usage_error(&["load", "--conns", "0"], "--conns");
    assert_usage_error(&["load", "--depth", "0"], "--depth");
    assert_usage_error(&["load", "--addr", "127.0.0.1:0"], "port 0");
    assert_usage_error(
        &["load", "--conns", "10000", "--size", "1MiB"],
        "at most 1 GiB",
    );
    assert_usage_error(&["bench", "--duration", "0s"], "greater than 0");
    assert_usage_error(&["bench", "--rounds", "0"], "--rounds");
    assert_usage_error(&["bench", "--server-cpu", "100000"], "not available");
    assert_usage_error(&["echo", "--backend", "kqueue"], "possible values");
    assert_usage_error(&["echo", "--workers", "0"], "--workers");
    assert_usage_error(&["echo", "--no-such-flag"], "unexpected argument");
    // Nothing listens on a port we just released: refused.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    assert_fails(
        &["load", "--addr", &addr, "--duration", "1s", "--conns", "2"],
        "refused",
    );
    // SYNs dropped (a listener whose accept queue is full): the connects
    // time out.
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    full.listen(0).unwrap();
    let addr = full.local_addr().unwrap().as_socket().unwrap().to_string();
    assert_fails(
        &[
            "load",
            "--addr",
            &addr,
            "--duration",
            "300ms",
            "--conns",
            "4",
            "--connect-timeout",
            "300ms",
        ],
        "timed out",
    );
    drop(full);
    // A port in use.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    assert_fails(&["echo", "--addr", &addr], "in use");
    // An address that is not ours.
    assert_fails(&["echo", "--addr", "192.0.2.1:7000"], "cannot listen");
}

#[test]
fn help_texts_explain_every_flag() {
    let cases: &[(&str, &[&str])] = &[
        (
            "echo",
            &[
                "--addr",
                "--workers",
                "--backend",
                "--concurrency",
                "SIGTERM",
            ],
        ),
        (
            "load",
            &[
                "--addr",
                "--conns",
                "--size",
                "--depth",
                "--duration",
                "--warmup",
                "--json",
            ],
        ),
        (
            "bench",
            &[
                "--conns",
                "--size",
                "--depth",
                "--duration",
                "--json",
                "--plot",
                "--servers",
            ],
        ),
        (
            "copy",
            &["<SRC>", "<DST>", "--block", "--depth", "--backend"],
        ),
        ("info", &["--json", "io_uring"]),
    ];
    for (cmd, words) in cases {
        let out = cport(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help failed");
        let help = text(&out.stdout);
        for w in *words {
            assert!(
                help.contains(w),
                "`cport {cmd} --help` lacks {w:?}:\n{help}"
            );
        }
    }
    let top = text(&cport(&["--help"]).stdout);
    for cmd in ["echo", "load", "bench", "copy", "info"] {
        assert!(top.contains(cmd), "{top}");
    }
    assert!(
        !top.contains("serve-peer"),
        "the internal subcommand is hidden"
    );
}

#[test]
fn info_reports_the_machine() {
    let out = cport(&["info"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for word in [
        "kernel:",
        "io_uring:",
        "auto picks:",
        "CPUs:",
        "default concurrency:",
    ] {
        assert!(stdout.contains(word), "{word:?} missing in {stdout}");
    }
    let out = cport(&["info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["cpus"].as_u64().unwrap() >= 1);
    assert!(v["io_uring"]["available"].is_boolean());
    if v["io_uring"]["available"] == true {
        // Every opcode the backend uses is listed, with its support.
        let ops = v["io_uring"]["opcodes"].as_object().expect("opcodes");
        for op in [
            "ACCEPT",
            "RECV",
            "SEND",
            "SENDMSG",
            "LINK_TIMEOUT",
            "ASYNC_CANCEL",
        ] {
            assert!(ops[op].is_boolean(), "{op} missing in {ops:?}");
        }
        assert!(stdout.contains("io_uring opcodes:"), "{stdout}");
    }
}
