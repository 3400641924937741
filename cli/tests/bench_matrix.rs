//! `cport bench`'s workload matrix (`--conns` × `--msg` lists), the open
//! loop (`--rate`, latency from the scheduled time) of `bench` and `load`,
//! the descriptor limit, and the usage errors of the new flags.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{json, text, BIN};

fn cport(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CPORT_BACKEND")
        .stdin(Stdio::null())
        .output()
        .expect("run cport")
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn a_matrix_runs_every_combination_with_rows_per_server_and_workload() {
    let out = cport(&[
        "bench",
        "--conns",
        "2,5",
        "--msg",
        "64,1KiB",
        "--servers",
        "cport-epoll,epoll",
        "--rounds",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    let workloads: Vec<(u64, u64)> = v["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["conns"].as_u64().unwrap(), w["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(workloads, [(2, 64), (2, 1024), (5, 64), (5, 1024)], "{v}");
    let rows = v["servers"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "{v}");
    for &(conns, size) in &workloads {
        let here: Vec<_> = rows
            .iter()
            .filter(|r| r["conns"] == conns && r["size"] == size)
            .collect();
        let names: Vec<&str> = here.iter().map(|r| r["server"].as_str().unwrap()).collect();
        assert_eq!(names, ["cport-epoll", "epoll"], "{conns} x {size}: {v}");
        for r in here {
            assert_eq!(r["connections"], conns, "{r}");
            assert!(num(r, "requests") > 0.0, "{r}");
            assert_eq!(r["errors"], 0, "{r}");
            for key in ["requests_per_sec", "cpu_us_per_msg", "p50_us", "max_us"] {
                let o = &r["over_rounds"][key];
                let (min, median, max) = (num(o, "min"), num(o, "median"), num(o, "max"));
                assert!(min <= median && median <= max, "{key}: {o}");
            }
            // The CPU per message shown is the median over the rounds.
            assert_eq!(
                r["cpu_us_per_msg"], r["over_rounds"]["cpu_us_per_msg"]["median"],
                "{r}"
            );
            assert!(num(r, "p50_us") <= num(r, "p90_us"), "{r}");
            assert!(num(r, "p90_us") <= num(r, "p99_us"), "{r}");
            assert!(num(r, "p999_us") <= num(r, "max_us"), "{r}");
        }
        let ratios: Vec<_> = v["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["conns"] == conns && r["size"] == size)
            .collect();
        assert_eq!(ratios.len(), 1, "one cport ÷ peer per workload: {v}");
    }
}

#[test]
fn the_table_has_one_section_per_workload() {
    let out = cport(&[
        "bench",
        "--conns",
        "1,3",
        "--servers",
        "epoll",
        "--rounds",
        "1",
        "--duration",
        "200ms",
        "--warmup",
        "0",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    for heading in [
        "1 connections x 64-byte messages",
        "3 connections x 64-byte messages",
    ] {
        assert_eq!(stdout.matches(heading).count(), 1, "{heading}: {stdout}");
    }
    for column in ["p90 µs", "max µs", "CPU µs/msg", "min–max"] {
        assert!(stdout.contains(column), "{column}: {stdout}");
    }
}

#[test]
fn the_open_loop_keeps_to_its_rate_and_reports_percentiles() {
    let out = cport(&[
        "bench",
        "--rate",
        "2000",
        "--conns",
        "4",
        "--servers",
        "epoll",
        "--rounds",
        "1",
        "--duration",
        "500ms",
        "--warmup",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(num(&v["config"], "rate"), 2000.0, "{v}");
    let r = &v["servers"][0];
    // The schedule bounds what can be sent: 2,000/s for ~0.5 s (the window
    // may overrun by a sleep), plus the drain of what was outstanding.
    let requests = num(r, "requests");
    assert!(requests > 0.0 && requests <= 2000.0 * 0.6 + 4.0, "{r}");
    let p: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
        .iter()
        .map(|k| num(r, k))
        .collect();
    assert!(p[0] > 0.0, "{r}");
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{r}");
}

/// An echo server that answers the first message at once, then stalls for
/// `stall` before answering anything else, then echoes normally.
fn stalling_echo(stall: Duration) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 4096];
        let mut first = true;
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
            if first {
                first = false;
                std::thread::sleep(stall);
            }
        }
    });
    (addr, t)
}

/// A server stall of 400 ms in a 1 s open-loop window at 200 requests/s:
/// the ~80 requests due during the stall wait for it, and their latency
/// counts from when they were due, so well over a tenth of all requests
/// take more than 100 ms. Timed from when they went out instead, only one
/// request would (the one sent before the stall), and p90 would be tiny.
#[test]
fn open_loop_latency_counts_from_the_scheduled_time() {
    let (addr, server) = stalling_echo(Duration::from_millis(400));
    let out = cport(&[
        "load",
        "--addr",
        &addr.to_string(),
        "--conns",
        "1",
        "--rate",
        "200",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    server.join().unwrap();
    let p90 = num(&v, "p90_us");
    assert!(p90 > 100_000.0, "p90 {p90} µs: {v}");
    assert!(num(&v, "max_us") >= 300_000.0, "{v}");
    // The stall delays requests, it does not drop them: the schedule is kept.
    assert!(num(&v, "requests") >= 150.0, "{v}");
}

fn bench_with_nofile(soft: u64, hard: u64, conns: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "bench",
        "--conns",
        conns,
        "--servers",
        "epoll",
        "--rounds",
        "1",
        "--duration",
        "200ms",
        "--warmup",
        "0",
        "--json",
    ])
    .env_remove("CPORT_BACKEND")
    .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe and reads a stack value only.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    cmd.output().expect("run cport")
}

fn hard_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid and writable.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_max
}

#[test]
fn a_low_soft_descriptor_limit_is_raised() {
    let hard = hard_nofile();
    assert!(hard >= 1024, "the hard descriptor limit here is {hard}");
    let out = bench_with_nofile(128, hard, "300");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    let r = &v["servers"][0];
    assert_eq!(r["connections"], 300, "{v}");
    assert_eq!(r["errors"], 0, "{v}");
    assert!(v["notes"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn a_low_hard_descriptor_limit_runs_fewer_connections_and_says_so() {
    let out = bench_with_nofile(128, 256, "300");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    let r = &v["servers"][0];
    let up = r["connections"].as_u64().unwrap();
    assert!(up > 0 && up < 300, "{v}");
    assert_eq!(r["conns"], 300, "{v}");
    assert_eq!(r["errors"], 0, "{v}");
    let note = v["notes"][0].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(
        note.contains(&format!("allows {up} connections")) && note.contains("hard 256"),
        "{note}"
    );
}

#[test]
fn invalid_matrix_and_rate_values_are_usage_errors() {
    for (args, expect) in [
        (&["bench", "--rate", "0"][..], "between 1 and"),
        (&["bench", "--rate", "fast"], "not a rate"),
        (&["bench", "--rate=-5"], "between 1 and"),
        (&["bench", "--conns", "64,0"], "--conns"),
        (&["bench", "--conns", "64,x"], "invalid value"),
        (&["bench", "--msg", "64,0"], "at least 1 byte"),
        (&["bench", "--conns", "20000"], "--conns"),
        (
            &["load", "--rate", "0", "--addr", "127.0.0.1:9"],
            "between 1 and",
        ),
        (
            &["bench", "--conns", "1,2", "--plot", "/tmp/x.svg"],
            "--plot draws one workload",
        ),
    ] {
        let out = cport(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expect),
            "{args:?}: {expect:?} not in {stderr}"
        );
    }
}

#[test]
fn help_describes_the_matrix_and_the_open_loop() {
    let out = cport(&["bench", "--help"]);
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for words in ["--conns", "--msg", "--rate <R>", "coordinated omission"] {
        assert!(help.contains(words), "{words}: {help}");
    }
}
