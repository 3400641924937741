//! `cport echo` under a hostile client mix, as a process: every echo matches,
//! the server's fd count is back to its starting value within 1 s of the
//! client's exit (no connection left behind, e.g. in CLOSE-WAIT), and SIGTERM
//! still ends it with status 0. On each backend.

#[path = "../../tests/util/mod.rs"]
mod util;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::hostile;

const BIN: &str = env!("CARGO_BIN_EXE_cport");

/// How long the clients run; enough for thousands of connections of each kind.
const MIX_TIME: Duration = Duration::from_secs(3);
/// Client threads.
const CLIENTS: usize = 4;

/// Starts `cport echo --backend <backend> --workers 2` on a free port and
/// returns it with its address once it printed both banner lines (so its fds
/// are all open); `Err` with its stderr if it exited.
fn start_echo(backend: &str) -> Result<(Child, SocketAddr, String), String> {
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
        let _ = child.wait();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        return Err(err);
    };
    let addr = addr.parse().unwrap();
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    // The rest of stdout (the stats line) is read after the exit.
    child.stdout = Some(stdout.into_inner());
    Ok((child, addr, banner))
}

/// SIGTERM, then the exit status within 10 s, and the stats line.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    // SAFETY: kill has no memory-safety preconditions; the child is not
    // reaped yet, so its pid is still its own.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("cport echo did not exit within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    (status, rest)
}

fn hostile_mix_leaves_nothing_open(backend: &str) {
    let (child, addr, banner) = match start_echo(backend) {
        Ok(started) => started,
        Err(err) if backend == "uring" && err.contains("io_uring is unavailable") => {
            util::skip_uring(err.trim());
            return;
        }
        Err(err) => panic!("cport echo did not start: {err}"),
    };
    assert!(banner.starts_with("backend "), "{banner}");
    if backend == "uring" {
        // How task work runs (as asked, or why not).
        assert!(
            banner.contains("(cooperative task running)")
                || banner.contains("(interrupting task work"),
            "{banner}"
        );
    }
    let pid = child.id().to_string();
    let start = hostile::fd_count(&pid);
    let report = hostile::run_mix(addr, CLIENTS, MIX_TIME);
    let back = hostile::fds_back_to(&pid, start, Duration::from_secs(1));
    let (status, stats) = terminate(child);
    assert!(
        report.failures.is_empty(),
        "{backend}: {:?}",
        report.failures
    );
    assert!(
        report.echoes_matched > 100 && report.resets > 100,
        "{backend}: too little traffic to mean anything: {report:?}"
    );
    assert_eq!(
        back,
        Ok(()),
        "{backend}: the server had {start} fds before {} connections and still more 1 s after \
         the clients exited ({report:?})",
        report.connections
    );
    assert!(status.success(), "{backend}: exit {status}: {stats}");
    assert!(stats.contains("operations completed"), "{stats}");
}

#[test]
fn echo_under_a_hostile_mix_on_io_uring() {
    hostile_mix_leaves_nothing_open("uring");
}

#[test]
fn echo_under_a_hostile_mix_on_epoll() {
    hostile_mix_leaves_nothing_open("epoll");
}
