//! `cport copy`: an overlapped file copy through a completion port, in the
//! ReadFile/WriteFile style: `depth` reads are in flight; each completed read
//! issues the write of its bytes at the same offset, and each completed write
//! issues the next read with the same buffer.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cport::{BackendChoice, BackendKind, GetError, Port};

/// Options of one copy.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub block: usize,
    pub depth: usize,
    pub backend: BackendChoice,
    pub progress: bool,
}

/// What a copy did.
pub struct CopyReport {
    pub dst: PathBuf,
    pub bytes: u64,
    pub elapsed: Duration,
    pub backend: BackendKind,
}

/// One block: where it goes and whether it is being read or written.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    offset: u64,
    len: usize,
    write: bool,
}

const SRC: u8 = 0;
const DST: u8 = 1;

type CopyPort = Port<u8, Chunk, Vec<u8>>;

fn explain(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => " (the destination file system is full)",
        Some(libc::EACCES) | Some(libc::EPERM) => " (check the file's permissions)",
        Some(libc::EROFS) => " (the destination file system is read-only)",
        _ => "",
    }
}

fn open_source(path: &Path) -> Result<(File, std::fs::Metadata)> {
    let file = File::open(path)
        .map_err(|e| anyhow!("cannot open {}: {e}{}", path.display(), explain(&e)))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read the metadata of {}", path.display()))?;
    if meta.is_dir() {
        bail!("{} is a directory (copy copies one file)", path.display());
    }
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    Ok((file, meta))
}

/// Where the copy goes: `dst`, or `dst/NAME` if `dst` is a directory.
fn destination(src: &Path, dst: &Path) -> Result<PathBuf> {
    if dst.is_dir() {
        let name = src
            .file_name()
            .with_context(|| format!("{} has no file name", src.display()))?;
        Ok(dst.join(name))
    } else {
        Ok(dst.to_path_buf())
    }
}

pub fn run(opts: &CopyOptions) -> Result<CopyReport> {
    let (src, meta) = open_source(&opts.src)?;
    let len = meta.len();
    let dst_path = destination(&opts.src, &opts.dst)?;
    let existing = std::fs::metadata(&dst_path).ok();
    if let Some(d) = &existing {
        if d.dev() == meta.dev() && d.ino() == meta.ino() {
            bail!(
                "{} and {} are the same file",
                opts.src.display(),
                dst_path.display()
            );
        }
    }
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&dst_path)
        .map_err(|e| anyhow!("cannot create {}: {e}{}", dst_path.display(), explain(&e)))?;
    let created = existing.is_none();
    let result = copy(opts, src, dst, len, &dst_path, meta.mode());
    if result.is_err() && created {
        // Do not leave a partial file behind that was not there before.
        let _ = std::fs::remove_file(&dst_path);
    }
    result.map(|(elapsed, backend)| CopyReport {
        dst: dst_path,
        bytes: len,
        elapsed,
        backend,
    })
}

fn copy(
    opts: &CopyOptions,
    src: File,
    dst: File,
    len: u64,
    dst_path: &Path,
    mode: u32,
) -> Result<(Duration, BackendKind)> {
    let start = Instant::now();
    if len > 0 {
        // Reserve the space first, so that a full disk is reported before
        // anything is copied. File systems without fallocate are fine.
        // SAFETY: the fd is open for writing and owned by `dst`.
        let rc = unsafe { libc::posix_fallocate(dst.as_raw_fd(), 0, len as libc::off_t) };
        if rc == libc::ENOSPC || rc == libc::EDQUOT {
            let e = io::Error::from_raw_os_error(rc);
            bail!(
                "cannot write {}: {e}{} ({} needed)",
                dst_path.display(),
                explain(&e),
                crate::util::fmt_bytes(len)
            );
        }
    }
    let _ = dst.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o777));
    let port: CopyPort = Port::builder()
        .concurrency(1)
        .backend(opts.backend)
        .build()
        .context("cannot create the completion port")?;
    let backend = port.backend();
    if len == 0 {
        return Ok((start.elapsed(), backend));
    }
    let src_h = port
        .associate(src, SRC)
        .context("cannot associate the source with the port")?;
    let dst_h = port
        .associate(dst, DST)
        .context("cannot associate the destination with the port")?;

    let bar = if opts.progress && io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed:>3} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let mut next: u64 = 0;
    let mut written: u64 = 0;
    let mut pending: usize = 0;
    let mut failure: Option<anyhow::Error> = None;
    let src_name = opts.src.display().to_string();
    let dst_name = dst_path.display().to_string();

    // Issues a read of the next block into `buf`, if any is left.
    let read_next =
        |port: &CopyPort, next: &mut u64, pending: &mut usize, mut buf: Vec<u8>| -> Result<()> {
            if *next >= len {
                return Ok(());
            }
            let n = (len - *next).min(opts.block as u64) as usize;
            buf.resize(n, 0);
            let chunk = Chunk {
                offset: *next,
                len: n,
                write: false,
            };
            port.op(src_h)
                .read_at(buf, *next, chunk)
                .map_err(|e| anyhow!("cannot start reading {src_name}: {}", e.error))?;
            *next += n as u64;
            *pending += 1;
            Ok(())
        };

    for _ in 0..opts.depth {
        if let Err(e) = read_next(&port, &mut next, &mut pending, Vec::new()) {
            failure = Some(e);
            break;
        }
    }
    while pending > 0 {
        let p = match port.get(Some(Duration::from_millis(100))) {
            Ok(p) => p,
            Err(GetError::TimedOut) => continue,
            Err(e) => {
                failure.get_or_insert(anyhow!("the completion port failed: {e}"));
                break;
            }
        };
        pending -= 1;
        let chunk = p.value;
        let mut buf = p.buf.unwrap_or_default();
        let step = match (chunk.write, p.result) {
            (false, Ok(0)) => Err(anyhow!(
                "{src_name} ended at {} bytes, before its size of {len} bytes (was it truncated while copying?)",
                chunk.offset
            )),
            (false, Ok(n)) => {
                if failure.is_some() {
                    Ok(())
                } else {
                    // A short read writes what came and reads the rest.
                    let rest = (n < chunk.len).then(|| Chunk {
                        offset: chunk.offset + n as u64,
                        len: chunk.len - n,
                        write: false,
                    });
                    buf.truncate(n);
                    let write = Chunk {
                        offset: chunk.offset,
                        len: n,
                        write: true,
                    };
                    match port.op(dst_h).write_at(buf, chunk.offset, write) {
                        Err(e) => Err(anyhow!("cannot start writing {dst_name}: {}", e.error)),
                        Ok(_) => {
                            pending += 1;
                            match rest {
                                None => Ok(()),
                                Some(rest) => match port.op(src_h).read_at(vec![0; rest.len], rest.offset, rest) {
                                    Ok(_) => {
                                        pending += 1;
                                        Ok(())
                                    }
                                    Err(e) => Err(anyhow!("cannot start reading {src_name}: {}", e.error)),
                                },
                            }
                        }
                    }
                }
            }
            (true, Ok(n)) => {
                written += n as u64;
                bar.set_position(written);
                if failure.is_some() {
                    Ok(())
                } else {
                    read_next(&port, &mut next, &mut pending, buf)
                }
            }
            (write, Err(e)) => {
                let (verb, name) = if write {
                    ("write", &dst_name)
                } else {
                    ("read", &src_name)
                };
                Err(anyhow!(
                    "cannot {verb} {name} at offset {}: {e}{}",
                    chunk.offset,
                    explain(&e)
                ))
            }
        };
        if let Err(e) = step {
            failure.get_or_insert(e);
        }
    }
    bar.finish_and_clear();
    let _ = port.close_handle(src_h);
    let _ = port.close_handle(dst_h);
    if let Some(e) = failure {
        return Err(e);
    }
    if written != len {
        bail!("copied {written} of {len} bytes");
    }
    Ok((start.elapsed(), backend))
}
