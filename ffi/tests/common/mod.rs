//! Shared helpers of the C ABI tests: build libcport with the test's own
//! profile, compile a C program against `include/win32` and the static
//! library, and run it on each backend with a time limit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "../../../tests/util/skip.rs"]
mod skip;
pub use skip::skip_note;

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

/// Where this test binary's cargo build puts its output: the target
/// directory, the `--target` triple if one was given, and the profile's name
/// (`debug`, `release`, or a custom profile's).
pub struct BuildLocation {
    pub target_dir: PathBuf,
    pub triple: Option<String>,
    pub profile_dir_name: String,
}

impl BuildLocation {
    /// The profile's name as cargo's `--profile` takes it.
    pub fn profile(&self) -> &str {
        match self.profile_dir_name.as_str() {
            "debug" => "dev",
            other => other,
        }
    }
}

/// The build location of this test binary (target/<profile>/deps/<exe>).
pub fn build_location() -> BuildLocation {
    let dir = profile_dir();
    let profile_dir_name = dir.file_name().unwrap().to_str().unwrap().to_string();
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
    BuildLocation {
        target_dir,
        triple,
        profile_dir_name,
    }
}

/// Builds libcport (`cargo build -p cport-ffi`) with this test's profile,
/// target directory and target, once per test binary, and returns the path
/// of `libcport.a`.
pub fn libcport() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let at = build_location();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(root())
            .args(["build", "-p", "cport-ffi", "--target-dir"])
            .arg(&at.target_dir)
            .args(["--profile", at.profile()]);
        if let Some(t) = &at.triple {
            cmd.args(["--target", t]);
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build -p cport-ffi failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = profile_dir().join("libcport.a");
        assert!(
            lib.exists(),
            "{} is missing: run `cargo build` at the repository root first",
            lib.display()
        );
        lib
    })
}

/// Runs the top-level Makefile (`make <target> PREFIX=prefix [DESTDIR=..]`)
/// with this test's profile, target directory and target, so that it builds
/// nothing the test run has not built. Panics with make's output on failure.
pub fn make(target: &str, prefix: &Path, destdir: Option<&Path>) {
    let at = build_location();
    let mut cmd = Command::new("make");
    cmd.current_dir(root())
        .args(["--no-print-directory", target])
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("PROFILE={}", at.profile()))
        .arg(format!("TARGET_DIR={}", at.target_dir.display()))
        .env("CARGO", env!("CARGO"));
    if let Some(d) = destdir {
        cmd.arg(format!("DESTDIR={}", d.display()));
    }
    match &at.triple {
        Some(t) => cmd.env("CARGO_BUILD_TARGET", t),
        None => cmd.env_remove("CARGO_BUILD_TARGET"),
    };
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run make (install GNU make): {e}"));
    assert!(
        out.status.success(),
        "make {target} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `make install` into a fresh prefix of this test binary's own, once per
/// test binary; returns the prefix.
pub fn installed_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap().to_string();
        let prefix = out_dir().join(format!("prefix-{name}"));
        let _ = std::fs::remove_dir_all(&prefix);
        make("install", &prefix, None);
        prefix
    })
}

/// `pkg-config <args> cport` against the installed prefix only
/// (`PKG_CONFIG_PATH` = its lib/pkgconfig), split into arguments.
pub fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("cport")
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env_remove("PKG_CONFIG_LIBDIR")
        .env_remove("PKG_CONFIG_SYSROOT_DIR")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pkg-config ({e}): install it (scripts/test.sh does: apt-get install pkg-config)")
        });
    assert!(
        out.status.success(),
        "pkg-config {args:?} cport: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
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
/// A fresh path to build `exe` at: tests running at once may build the same
/// program, and one must never run (or write) a file another is writing.
/// [`install_built`] then renames it into place, atomically.
pub fn build_path(exe: &Path) -> PathBuf {
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    exe.with_extension(format!("build-{}-{n}", std::process::id()))
}

pub fn install_built(built: &Path, exe: &Path) {
    std::fs::rename(built, exe)
        .unwrap_or_else(|e| panic!("rename {} → {}: {e}", built.display(), exe.display()));
}

pub fn compile_with(src: &Path, name: &str, cxx: bool, extra: &[&str]) -> PathBuf {
    let lib = libcport();
    let exe = out_dir().join(name);
    let built = build_path(&exe);
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
        .arg(&built);
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
    install_built(&built, &exe);
    exe
}

/// Compiles `ffi/tests/c/<name>.c` against the shared library
/// (`-L target/<profile> -lcport`); run it with [`run_shared`].
pub fn compile_shared(name: &str) -> PathBuf {
    let src = root().join("ffi/tests/c").join(format!("{name}.c"));
    compile_shared_with(&src, &format!("{name}_shared"), false)
}

/// Compiles `src` (C, or C++ when `cxx`) against the shared library.
pub fn compile_shared_with(src: &Path, name: &str, cxx: bool) -> PathBuf {
    libcport();
    let exe = out_dir().join(name);
    let built = build_path(&exe);
    let compiler = if cxx { "c++" } else { "cc" };
    let out = Command::new(compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .arg("-I")
        .arg(root().join("include/win32"))
        .arg("-I")
        .arg(root().join("ffi/tests/c"))
        .arg(src)
        .arg("-o")
        .arg(&built)
        .arg("-L")
        .arg(profile_dir())
        .args(["-lcport", "-lpthread"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {} (shared) failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    install_built(&built, &exe);
    exe
}

/// [`run`] for a program linked with the shared library.
pub fn run_shared(exe: &Path, backend: &str, args: &[&str], limit: Duration) -> Output {
    run_env(
        exe,
        backend,
        &[("LD_LIBRARY_PATH", &profile_dir())],
        args,
        limit,
    )
}

/// Compiles `ffi/tests/c/<name>.c`.
pub fn compile(name: &str) -> PathBuf {
    let src = root().join("ffi/tests/c").join(format!("{name}.c"));
    compile_with(&src, name, false, &[])
}

/// The backends to run on: epoll always, io_uring where the kernel allows it
/// (else a skip note, or a failure when `CPORT_REQUIRE_URING=1`).
pub fn backends() -> Vec<&'static str> {
    let mut v = vec!["epoll"];
    let uring = cport_core::Port::builder()
        .backend(cport_core::BackendChoice::Uring)
        .build::<usize, (), Vec<u8>>();
    match uring {
        Ok(_) => v.insert(0, "uring"),
        Err(e) => {
            let what = std::thread::current()
                .name()
                .unwrap_or("ffi test")
                .to_string();
            let why = format!("io_uring unavailable ({e}): runs on epoll only");
            assert!(
                std::env::var("CPORT_REQUIRE_URING").as_deref() != Ok("1"),
                "{what}: {why}, but CPORT_REQUIRE_URING=1"
            );
            skip_note(&what, &why);
        }
    }
    v
}

/// Runs `exe` with `CPORT_BACKEND=backend`, killing it after `limit`.
pub fn run(exe: &Path, backend: &str, args: &[&str], limit: Duration) -> Output {
    run_env(exe, backend, &[], args, limit)
}

/// [`run`] with more environment variables (`LD_LIBRARY_PATH`, …).
pub fn run_env(
    exe: &Path,
    backend: &str,
    env: &[(&str, &Path)],
    args: &[&str],
    limit: Duration,
) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .envs(env.iter().copied())
        .env("CPORT_BACKEND", backend);
    run_command(cmd, limit)
}

/// Runs `cmd` to the end with its output captured, killing it after `limit`.
pub fn run_command(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
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
        assert_ran_ok(
            &out,
            &format!("{name} on {backend}"),
            &format!("{name}: ok"),
        );
    }
}

/// Asserts that a test program (`what`, for the message) exited 0 and
/// printed `want`; returns its stdout and stderr for further checks.
pub fn assert_ran_ok(out: &Output, what: &str, want: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains(want),
        "{what}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}
