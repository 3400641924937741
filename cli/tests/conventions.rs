//! The tool's conventions: `CPORT_BACKEND` chooses the backend when
//! `--backend` is not given (and an invalid value is refused, naming the
//! valid ones), `cport bench` still runs where io_uring is refused, every
//! `--json` output says what ran where and when, and the bench's help and the
//! two READMEs agree on what the bench compares and how long it takes.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{json, signal_and_wait, text, BIN};

#[path = "../../tests/util/seccomp.rs"]
mod seccomp;

fn run(args: &[&str], backend_env: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    match backend_env {
        Some(v) => cmd.env("CPORT_BACKEND", v),
        None => cmd.env_remove("CPORT_BACKEND"),
    };
    cmd.output().expect("run cport")
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-conventions");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The `run` object every `--json` output carries.
fn assert_run_info(v: &serde_json::Value) {
    let run = &v["run"];
    assert_eq!(run["version"], env!("CARGO_PKG_VERSION"), "{v}");
    let kernel = run["kernel"].as_str().expect("run.kernel");
    assert!(kernel.starts_with("Linux "), "{kernel}");
    assert!(!run["cpu_model"].as_str().expect("run.cpu_model").is_empty());
    let ts = run["timestamp"].as_str().expect("run.timestamp");
    // YYYY-MM-DDTHH:MM:SSZ, this century.
    assert!(
        ts.len() == 20 && ts.starts_with("20") && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
}

/// `cport echo` started with `args` and `CPORT_BACKEND=env`: the line of its
/// start-up banner naming the backend, after which it is stopped (SIGTERM)
/// and its stdout returned.
fn echo_backend_line(args: &[&str], env: Option<&str>, json_mode: bool) -> (String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["echo", "--addr", "127.0.0.1:0", "--workers", "1"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match env {
        Some(v) => cmd.env("CPORT_BACKEND", v),
        None => cmd.env_remove("CPORT_BACKEND"),
    };
    let mut child = cmd.spawn().expect("start cport echo");
    // With --json the banner goes to stderr and stdout has only the result.
    let banner: Box<dyn Read + Send> = if json_mode {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let mut banner = BufReader::new(banner);
    let (mut first, mut second) = (String::new(), String::new());
    banner.read_line(&mut first).unwrap();
    banner.read_line(&mut second).unwrap();
    assert!(first.starts_with("listening on "), "{first}{second}");
    let status = signal_and_wait(&mut child, libc::SIGTERM);
    let mut rest = String::new();
    if json_mode {
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut rest)
            .unwrap();
    } else {
        banner.read_to_string(&mut rest).unwrap();
    }
    assert!(status.success(), "echo exited with {status}");
    (second, rest)
}

#[test]
fn cport_backend_chooses_the_backend_when_the_flag_does_not() {
    let (line, _) = echo_backend_line(&[], Some("epoll"), false);
    assert!(line.starts_with("backend epoll"), "{line}");
    // The flag wins over the variable.
    let (line, _) = echo_backend_line(&["--backend", "epoll"], Some("uring"), false);
    assert!(line.starts_with("backend epoll"), "{line}");

    // copy and load too: their JSON names the backend they ran on.
    let src = scratch("env-src");
    std::fs::write(&src, vec![5u8; 10_000]).unwrap();
    let dst = scratch("env-dst");
    let out = run(
        &[
            "copy",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ],
        Some("epoll"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["backend"], "epoll", "{v}");
    assert_eq!(v["bytes"], 10_000, "{v}");
    assert_run_info(&v);
    assert_eq!(std::fs::read(&dst).unwrap(), vec![5u8; 10_000]);
}

#[test]
fn an_invalid_cport_backend_is_a_usage_error_naming_the_valid_ones() {
    let src = scratch("bad-env-src");
    std::fs::write(&src, b"x").unwrap();
    let dst = scratch("bad-env-dst");
    let _ = std::fs::remove_file(&dst);
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    for args in [
        &["echo", "--addr", "127.0.0.1:0"][..],
        &["load", "--addr", "127.0.0.1:9", "--duration", "1s"],
        &["bench", "--duration", "1s"],
        &["copy", s, d],
    ] {
        let out = run(args, Some("nonsense"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("CPORT_BACKEND")
                && stderr.contains("\"nonsense\"")
                && stderr.contains("auto, uring or epoll"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!dst.exists(), "copy ran despite the invalid CPORT_BACKEND");
    // An explicit --backend does not consult the variable.
    let out = run(
        &["copy", s, d, "--backend", "epoll", "-q"],
        Some("nonsense"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // `cport info` reports the variable and marks it invalid.
    let out = run(&["info"], Some("nonsense"));
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CPORT_BACKEND:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("INVALID") && line.contains("nonsense"),
        "{line}"
    );
    let v = json(&run(&["info", "--json"], Some("nonsense")));
    assert_eq!(v["cport_backend_env"], "nonsense");
    assert!(v["cport_backend_env_error"].is_string(), "{v}");
    assert_run_info(&v);
    let v = json(&run(&["info", "--json"], Some("epoll")));
    assert!(v["cport_backend_env_error"].is_null(), "{v}");
}

#[test]
fn echo_json_prints_its_statistics_as_one_object() {
    let (line, rest) = echo_backend_line(&["--json", "--backend", "epoll"], None, true);
    assert!(line.starts_with("backend epoll"), "{line}");
    let v: serde_json::Value =
        serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{e}: {rest}"));
    assert_eq!(v["backend"], "epoll", "{v}");
    assert_eq!(v["connections"], 0, "{v}");
    assert!(v["operations"].as_u64().unwrap() > 0, "{v}");
    assert_run_info(&v);
}

/// Makes io_uring_setup fail with EPERM in the process about to exec (and
/// in everything it starts): what a container's default seccomp profile does.
/// Async-signal-safe, as `pre_exec` needs: system calls on stack data only.
fn refuse_io_uring() -> std::io::Result<()> {
    seccomp::refuse_syscall(libc::SYS_io_uring_setup, libc::EPERM)
}

#[test]
fn bench_shows_io_uring_servers_as_unavailable_where_io_uring_is_refused() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "bench",
        "--servers",
        "cport-uring,cport-epoll,uring,epoll",
        "--duration",
        "400ms",
        "--rounds",
        "2",
        "--warmup",
        "0",
        "--conns",
        "4",
    ])
    .env_remove("CPORT_BACKEND")
    .stdin(Stdio::null());
    // SAFETY: refuse_io_uring is async-signal-safe (system calls on stack
    // data only).
    unsafe { cmd.pre_exec(refuse_io_uring) };
    let json_out = {
        let mut c = Command::new(BIN);
        c.args(cmd.get_args()).arg("--json");
        c.env_remove("CPORT_BACKEND").stdin(Stdio::null());
        // SAFETY: as above.
        unsafe { c.pre_exec(refuse_io_uring) };
        c.output().unwrap()
    };
    assert!(
        json_out.status.success(),
        "bench failed where io_uring is refused: {}",
        text(&json_out.stderr)
    );
    let v = json(&json_out);
    assert_run_info(&v);
    let rows = v["servers"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{v}");
    for row in rows {
        let name = row["server"].as_str().unwrap();
        if name.contains("uring") {
            let why = row["unavailable"]
                .as_str()
                .unwrap_or_else(|| panic!("{row}"));
            assert!(why.contains("io_uring"), "{name}: {why}");
            assert_eq!(row["requests"], 0, "{row}");
        } else {
            assert!(row["unavailable"].is_null(), "{row}");
            assert!(row["requests"].as_u64().unwrap() > 0, "{row}");
            assert_eq!(row["errors"], 0, "{row}");
        }
    }
    // The table says so too, with the reason.
    let out = cmd.output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    let row = stdout
        .lines()
        .find(|l| l.starts_with("cport io_uring "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("unavailable"), "{row}");
    assert!(
        stdout.contains("cport io_uring: unavailable here:"),
        "{stdout}"
    );
}

/// The number of servers and the run time the bench's help states, and the
/// first command of the README and of cli/README.md, agree with each other
/// and with the default --servers list.
#[test]
fn bench_help_and_readmes_agree_on_servers_and_run_time() {
    let help = text(&run(&["bench", "--help"], None).stdout);
    let defaults = help
        .split("[default: ")
        .find(|part| part.starts_with("cport-uring"))
        .and_then(|part| part.split(']').next())
        .unwrap_or_else(|| panic!("no default --servers in {help}"));
    let servers = defaults.split(',').count();
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("against {servers} echo servers")),
        "{flat}"
    );
    let secs = flat
        .split("the whole run takes about ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no run time in {flat}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for (file, line_starts) in [
        ("README.md", "cargo run --release -p cport-cli -- bench"),
        ("cli/README.md", "cargo run --release -p cport-cli -- bench"),
    ] {
        let readme = std::fs::read_to_string(root.join(file)).unwrap();
        let line = readme
            .lines()
            .find(|l| l.starts_with(line_starts))
            .unwrap_or_else(|| panic!("{file} has no bench command"));
        assert!(line.contains(&format!("~{secs} s")), "{file}: {line}");
        assert!(line.contains(&format!("{servers} ")), "{file}: {line}");
    }
}
