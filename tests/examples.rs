//! Runs the examples that `cargo test` builds (target/<profile>/examples/),
//! on each backend: each exits with success after checking its own results.
//! A run limited to this test (`cargo test --test examples`) builds the
//! missing example first with `cargo build --example`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The example binary `name`, next to this test's own directory
/// (target/<profile>/deps/ → target/<profile>/examples/).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--example", name]);
        if name == "async_echo" {
            // Its required feature (this test runs it only when it is on).
            build.args(["--features", "futures"]);
        }
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(
        path.exists(),
        "{} was not built (cargo test builds the examples)",
        path.display()
    );
    path
}

/// Runs example `name` with `backend` and returns its standard output.
fn run(name: &str, backend: &str) -> String {
    let mut child = Command::new(example(name))
        .env("CPORT_BACKEND", backend)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the example");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("example {name} ran for more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("its output");
    assert!(
        out.status.success(),
        "example {name} on {backend} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The backends to run on: epoll always, io_uring where it can be set up.
fn backends() -> Vec<&'static str> {
    let mut b = vec!["epoll"];
    if cport::io_uring_opcode_support().is_ok() {
        b.push("uring");
    } else {
        println!("cport-test-skip: examples on io_uring: io_uring cannot be set up here");
    }
    b
}

#[test]
fn echo_server_echoes_every_client() {
    for b in backends() {
        let out = run("echo_server", b);
        assert!(out.contains("echoed 4 clients"), "{out}");
    }
}

#[test]
fn file_copy_makes_an_identical_copy() {
    for b in backends() {
        let out = run("file_copy", b);
        assert!(out.contains("copied 1000003 bytes"), "{out}");
        assert!(out.contains("the copy is identical"), "{out}");
    }
}

#[test]
fn timer_fires_in_deadline_order_without_the_cancelled_one() {
    for b in backends() {
        let out = run("timer", b);
        assert!(out.contains("timers fired in order: [1, 3]"), "{out}");
    }
}

#[cfg(feature = "futures")]
#[test]
fn async_echo_serves_every_client_with_awaited_operations() {
    for b in backends() {
        let out = run("async_echo", b);
        assert!(out.contains("async echoed 4 clients, 76 bytes"), "{out}");
    }
}
