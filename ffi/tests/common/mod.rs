//! Shared helpers of the C ABI tests: build libcport with the test's own
//! profile, compile a C program against `include/win32` and the static
//! library, and run it on each backend with a time limit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/<profile>`: this test binary lives in `target/<profile>/deps`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Builds libcport (`cargo build -p cport-ffi`) with this test's profile,
/// target directory and target, once per test binary, and returns the path
/// of `libcport.a`.
pub fn libcport() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = profile_dir();
        let profile = dir.file_name().unwrap().to_str().unwrap().to_string();
        let parent = dir.parent().unwrap();
        // target/<profile> or, with --target, target/<triple>/<profile>. Cargo
        // tags the target directory (CACHEDIR.TAG), but not one that already
        // existed (e.g. made as the parent of another --target-dir): only a
        // tagged grandparent means a triple.
        let tagged = |d: &Path| d.join("CACHEDIR.TAG").exists();
        let grandparent = parent.parent().unwrap();
        let (target_dir, triple) = if tagged(parent) || !tagged(grandparent) {
            (parent.to_path_buf(), None)
        } else {
            let triple = parent.file_name().unwrap().to_str().unwrap().to_string();
            (parent.parent().unwrap().to_path_buf(), Some(triple))
        };
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root())
            .args(["build", "-p", "cport-ffi", "--target-dir"])
            .arg(&target_dir);
        if let Some(t) = &triple {
            cmd.args(["--target", t]);
        }
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build -p cport-ffi failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = dir.join("libcport.a");
        assert!(
            lib.exists(),
            "{} is missing: run `cargo build` at the repository root first",
            lib.display()
        );
        lib
    })
}

/// Where compiled test programs go.
pub fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cport-ffi-c");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `src` (C, or C++ when `cxx`) with the shim headers and links it
/// statically with libcport. `-Wall -Wextra -Werror`: the headers must not
/// warn. Panics with the compiler's output on failure.
pub fn compile_with(src: &Path, name: &str, cxx: bool, extra: &[&str]) -> PathBuf {
    let lib = libcport();
    let exe = out_dir().join(name);
    let compiler = if cxx { "c++" } else { "cc" };
    let mut cmd = Command::new(compiler);
    if cxx {
        cmd.args(["-x", "c++"]);
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .arg("-I")
        .arg(root().join("include/win32"))
        .arg("-I")
        .arg(root().join("ffi/tests/c"))
        .args(extra)
        .arg(src)
        .arg("-o")
        .arg(&exe);
    if cxx {
        cmd.args(["-x", "none"]);
    }
    cmd.arg(lib).args(["-lpthread", "-ldl", "-lm"]);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Compiles `ffi/tests/c/<name>.c`.
pub fn compile(name: &str) -> PathBuf {
    let src = root().join("ffi/tests/c").join(format!("{name}.c"));
    compile_with(&src, name, false, &[])
}

/// The backends to run on: epoll always, io_uring where the kernel allows it.
pub fn backends() -> Vec<&'static str> {
    let mut v = vec!["epoll"];
    let uring = cport_core::Port::builder()
        .backend(cport_core::BackendChoice::Uring)
        .build::<usize, (), Vec<u8>>();
    if uring.is_ok() {
        v.insert(0, "uring");
    } else {
        eprintln!("io_uring unavailable: testing on epoll only");
    }
    v
}

/// Runs `exe` with `CPORT_BACKEND=backend`, killing it after `limit`.
pub fn run(exe: &Path, backend: &str, args: &[&str], limit: Duration) -> Output {
    run_env(exe, backend, &[], args, limit)
}

/// [`run`] with more environment variables.
pub fn run_env(
    exe: &Path,
    backend: &str,
    env: &[(&str, &Path)],
    args: &[&str],
    limit: Duration,
) -> Output {
    let mut child = Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .env("CPORT_BACKEND", backend)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{} ({backend}) did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                exe.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Compiles `ffi/tests/c/<name>.c` and runs it on every backend; it must exit
/// 0 and print `<name>: ok`.
pub fn run_c_test(name: &str) {
    let exe = compile(name);
    for backend in backends() {
        let out = run(&exe, backend, &[], Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(&format!("{name}: ok")),
            "{name} on {backend}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
    }
}
