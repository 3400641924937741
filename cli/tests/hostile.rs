//! `cport echo` under a hostile client mix, as a process: every echo matches,
//! the server's fd count is back to its starting value within 1 s of the
//! client's exit (no connection left behind, e.g. in CLOSE-WAIT), and SIGTERM
//! still ends it with status 0. On each backend.

#[path = "../../tests/util/mod.rs"]
mod util;

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

use util::hostile;

mod common;
use common::{signal_and_wait, spawn_echo};

/// How long the clients run; enough for thousands of connections of each kind.
const MIX_TIME: Duration = Duration::from_secs(3);
/// Client threads.
const CLIENTS: usize = 4;

/// Starts `cport echo --backend <backend> --workers 2` on a free port and
/// returns it with its address once it printed both banner lines (so its fds
/// are all open); `Err` with its stderr if it exited.
fn start_echo(backend: &str) -> Result<(Child, SocketAddr, String), String> {
    let (mut child, mut stdout, addr) = spawn_echo(backend)?;
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    // The rest of stdout (the stats line) is read after the exit.
    child.stdout = Some(stdout.into_inner());
    Ok((child, addr, banner))
}

/// SIGTERM, then the exit status within 10 s, and the stats line.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String) {
    let status = signal_and_wait(&mut child, libc::SIGTERM);
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
