//! Copies a file with overlapped reads and writes on a completion port:
//! each chunk is read at its offset, then written at the same offset, with
//! several chunks in flight.
//!
//! ```text
//! cargo run --example file_copy -- SOURCE DESTINATION
//! cargo run --example file_copy          # copies a generated file and checks it
//! ```

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use cport::Port;

const CHUNK: usize = 64 * 1024;
const IN_FLIGHT: u64 = 4;

/// What an operation was for: reading the chunk at this offset, or writing one.
enum Step {
    Read(u64),
    Write,
}

fn main() -> std::io::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (src, dst, check) = match &args[..] {
        [src, dst] => (src.clone(), dst.clone(), false),
        [] => {
            let dir = std::env::temp_dir();
            let src = dir.join(format!("cport-file-copy-src-{}", std::process::id()));
            let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
            std::fs::write(&src, data)?;
            let dst = dir.join(format!("cport-file-copy-dst-{}", std::process::id()));
            (src, dst, true)
        }
        _ => {
            eprintln!("usage: file_copy [SOURCE DESTINATION]");
            std::process::exit(2);
        }
    };
    let copied = copy(&src, &dst)?;
    println!("copied {copied} bytes");
    if check {
        assert_eq!(std::fs::read(&src)?, std::fs::read(&dst)?, "same bytes");
        std::fs::remove_file(&src)?;
        std::fs::remove_file(&dst)?;
        println!("the copy is identical");
    }
    Ok(())
}

fn copy(src: &PathBuf, dst: &PathBuf) -> std::io::Result<u64> {
    let port: Port<u8, Step> = Port::builder().concurrency(1).build()?;
    let size = std::fs::metadata(src)?.len();
    let input = port.associate(File::open(src)?, 0)?;
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)?;
    let output = port.associate(out, 1)?;
    let mut next = 0u64;
    let mut pending = 0;
    while next < size && pending < IN_FLIGHT {
        start_read(&port, input, next)?;
        next += CHUNK as u64;
        pending += 1;
    }
    let mut copied = 0;
    while pending > 0 {
        let mut p = port.get(None).map_err(std::io::Error::from)?;
        let n = p.result?;
        match p.value {
            Step::Read(offset) => {
                // The read's buffer comes back holding the bytes read: write them.
                let buf = p.buf.take().expect("the read buffer");
                assert_eq!(buf.len(), n);
                port.op(output)
                    .write_at(buf, offset, Step::Write)
                    .map_err(|e| e.error)?;
            }
            Step::Write => {
                copied += n as u64;
                pending -= 1;
                if next < size {
                    start_read(&port, input, next)?;
                    next += CHUNK as u64;
                    pending += 1;
                }
            }
        }
    }
    port.close_handle(input)?;
    port.close_handle(output)?;
    Ok(copied)
}

fn start_read(port: &Port<u8, Step>, h: cport::Handle, offset: u64) -> std::io::Result<()> {
    port.op(h)
        .read_at(Vec::with_capacity(CHUNK), offset, Step::Read(offset))
        .map(|_| ())
        .map_err(|e| e.error)
}
