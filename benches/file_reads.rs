//! 4 KiB random reads from the page cache at queue depth 32 through a port
//! (one worker thread: get → issue the next read), against fio's io_uring
//! engine on the same file in the same run (goal: at least 0.9× fio).
//!
//! Run: `cargo bench --bench file_reads` (installs nothing: if `fio` is not
//! on PATH the peer column says so; `apt-get install fio` adds it).

use std::fs::File;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use cport::{BackendChoice, Issued, Port};

const FILE_SIZE: u64 = 64 << 20;
const BLOCK: usize = 4096;
const DEPTH: u32 = 32;

fn path() -> std::path::PathBuf {
    std::env::temp_dir().join("cport-bench-file-reads.dat")
}

fn make_file() {
    let mut f = File::create(path()).unwrap();
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
    for _ in 0..FILE_SIZE >> 20 {
        f.write_all(&chunk).unwrap();
    }
    f.sync_all().unwrap();
    // Read it once so it is in the page cache.
    std::fs::read(path()).unwrap();
}

/// xorshift: cheap random block offsets, same sequence every run.
struct Rng(u64);
impl Rng {
    fn offset(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % (FILE_SIZE / BLOCK as u64)) * BLOCK as u64
    }
}

fn cport_iops(backend: BackendChoice, secs: f64) -> f64 {
    let port: Port<u32, u32> = Port::builder()
        .concurrency(1)
        .backend(backend)
        .build()
        .unwrap();
    let h = port.associate(File::open(path()).unwrap(), 0).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for v in 0..DEPTH {
        assert!(matches!(
            port.op(h).read_at(vec![0; BLOCK], rng.offset(), v),
            Ok(Issued::Pending(_))
        ));
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut done = 0u64;
    let mut batch = Vec::with_capacity(DEPTH as usize);
    loop {
        batch.clear();
        port.get_many(
            &mut batch,
            std::num::NonZeroUsize::new(DEPTH as usize).unwrap(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        let now = Instant::now();
        for p in batch.drain(..) {
            assert_eq!(p.result.unwrap(), BLOCK);
            done += 1;
            if now < deadline {
                let buf = p.buf.unwrap();
                let _ = port.op(h).read_at(buf, rng.offset(), p.value);
            }
        }
        if now >= deadline {
            break;
        }
    }
    let took = start.elapsed().as_secs_f64();
    port.shutdown();
    done as f64 / took
}

fn fio_iops(secs: f64) -> Option<f64> {
    let out = Command::new("fio")
        .args([
            "--name=cport-peer",
            "--ioengine=io_uring",
            "--rw=randread",
            "--bs=4k",
            &format!("--iodepth={DEPTH}"),
            &format!("--filename={}", path().display()),
            &format!("--size={FILE_SIZE}"),
            &format!("--runtime={}", secs.ceil() as u64),
            "--time_based",
            "--numjobs=1",
            "--thread",
            // Keep the page cache: fio drops the file from it by default.
            "--invalidate=0",
            "--output-format=json",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // "read" : { ... "iops" : 123456.7, — take the first "iops" after "read".
    let read = text.find("\"read\"")?;
    let rest = &text[read..];
    let at = rest.find("\"iops\"")?;
    let num: String = rest[at + 6..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = if quick { 0.2 } else { 5.0 };
    make_file();
    let fio = if quick { None } else { fio_iops(secs) };
    println!("4 KiB random reads from the page cache, queue depth {DEPTH}, {secs} s each");
    println!("{:<22} {:>12} {:>10}", "engine", "IOPS", "vs fio");
    let fio_text = fio.map_or("not run".to_string(), |f| format!("{f:.0}"));
    println!("{:<22} {:>12} {:>10}", "fio io_uring", fio_text, "1.00");
    for backend in [BackendChoice::Uring, BackendChoice::Epoll] {
        let iops = cport_iops(backend, secs);
        let ratio = fio.map_or("-".to_string(), |f| format!("{:.2}", iops / f));
        println!(
            "{:<22} {:>12.0} {:>10}",
            format!("cport {backend:?}").to_lowercase(),
            iops,
            ratio
        );
    }
    let _ = std::fs::remove_file(path());
}
