//! `cport info`: what this machine offers cport.

use std::ffi::CStr;

use anyhow::Result;
use cport::{BackendChoice, Port};
use serde_json::json;

pub fn kernel() -> String {
    // SAFETY: utsname is a plain C struct of char arrays; all-zero is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return format!("unknown ({})", std::io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its array.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    format!(
        "{} {} ({})",
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.machine)
    )
}

/// Which of cport's opcodes the kernel's io_uring supports.
fn opcodes() -> Result<Vec<(&'static str, bool)>, String> {
    cport::io_uring_opcode_support().map_err(|e| e.to_string())
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn memlock() -> String {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return "unknown".into();
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        crate::util::fmt_bytes(lim.rlim_cur)
    }
}

pub fn run(as_json: bool) -> Result<()> {
    let kernel = kernel();
    // With the default options: the mode says whether the kernel took
    // cooperative task running (5.19+) or cport fell back to interrupting.
    let uring: Result<String, String> = Port::builder()
        .concurrency(1)
        .backend(BackendChoice::Uring)
        .build::<u64, u64, Vec<u8>>()
        .map(|p| p.backend_mode().unwrap_or_default().to_string())
        .map_err(|e| e.to_string());
    let opcodes = opcodes();
    let auto = Port::builder()
        .concurrency(1)
        .backend(BackendChoice::Auto)
        .build::<u64, u64, Vec<u8>>();
    let (auto_backend, auto_why) = match &auto {
        Ok(p) => (
            p.backend().to_string(),
            match p.fallback_reason() {
                Some(why) => format!("io_uring is unavailable: {why}"),
                None => "io_uring works and has every opcode cport uses".to_string(),
            },
        ),
        Err(e) => ("none".to_string(), format!("no backend works: {e}")),
    };
    drop(auto);
    let default_limit = Port::builder()
        .backend(BackendChoice::Epoll)
        .build::<u64, u64, Vec<u8>>()
        .map(|p| p.limit())
        .unwrap_or_else(|_| crate::util::cpu_count());
    let env = std::env::var_os("CPORT_BACKEND").map(|v| v.to_string_lossy().into_owned());
    let env_error = match crate::util::backend_from_env() {
        Some(Err(e)) => Some(e),
        _ => None,
    };
    let sysctl = read_trim("/proc/sys/kernel/io_uring_disabled");
    let cpus = crate::util::cpu_count();
    let memlock = memlock();

    if as_json {
        let ops: serde_json::Value = match &opcodes {
            Ok(list) => list
                .iter()
                .map(|(n, ok)| ((*n).to_string(), json!(ok)))
                .collect(),
            Err(e) => json!({ "error": e }),
        };
        let v = json!({
            "kernel": kernel,
            "io_uring": {
                "available": uring.is_ok(),
                "mode": uring.as_ref().ok(),
                "error": uring.as_ref().err(),
                "opcodes": ops,
            },
            "io_uring_disabled_sysctl": sysctl,
            "auto_backend": auto_backend,
            "auto_reason": auto_why,
            "cport_backend_env": env,
            "cport_backend_env_error": env_error,
            "run": crate::util::run_info(),
            "cpus": cpus,
            "default_concurrency": default_limit,
            "memlock_limit": memlock,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!("kernel:               {kernel}");
    match &uring {
        Ok(mode) => outln!("io_uring:             available ({mode})"),
        Err(e) => outln!("io_uring:             unavailable: {e}"),
    }
    match &opcodes {
        Ok(list) => {
            let names: Vec<String> = list
                .iter()
                .map(|(n, ok)| {
                    if *ok {
                        n.to_string()
                    } else {
                        format!("{n} (missing)")
                    }
                })
                .collect();
            outln!("io_uring opcodes:     {}", names.join(" "));
        }
        Err(e) => outln!("io_uring opcodes:     cannot probe: {e}"),
    }
    if let Some(s) = sysctl {
        let meaning = match s.as_str() {
            "0" => "enabled for all",
            "1" => "only for the io_uring_group",
            "2" => "disabled",
            _ => "?",
        };
        outln!("io_uring_disabled:    {s} ({meaning})");
    }
    outln!("memlock limit:        {memlock}");
    outln!("auto picks:           {auto_backend} ({auto_why})");
    if let Some(e) = &env_error {
        outln!("CPORT_BACKEND:        INVALID: {e} (echo, load, bench and copy refuse it; ports built without an explicit backend fail)");
    } else if let Some(env) = env {
        outln!("CPORT_BACKEND:        {env} (used by ports built without an explicit backend)");
    }
    outln!("CPUs:                 {cpus}");
    outln!("default concurrency:  {default_limit} (a port built with concurrency 0)");
    Ok(())
}
