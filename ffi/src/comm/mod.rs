//! Serial ports: `GetCommState`/`SetCommState` on termios,
//! `GetCommTimeouts`/`SetCommTimeouts`, and the device names `CreateFile`
//! understands for them.
//!
//! A "communications device" is a handle whose fd is a terminal
//! (`tcgetattr` succeeds); on any other handle these functions fail with
//! `ERROR_INVALID_FUNCTION`, as Windows does for a handle that is not a
//! communications device. The DCB maps to the baud rate, data bits, parity
//! (none, odd, even, mark, space), stop bits (1 or 2; 1.5 is refused with
//! `ERROR_INVALID_PARAMETER`, Linux has no such setting), RTS/CTS flow
//! control (`fOutxCtsFlow` or `RTS_CONTROL_HANDSHAKE`) and XON/XOFF
//! (`fOutX`, `fInX`, `XonChar`, `XoffChar`). `SetCommState` also puts the
//! terminal in raw mode: a Windows serial port is always binary. DSR/DTR
//! handshaking is not available on Linux and is ignored. Timeouts are
//! remembered per handle (overlapped reads complete with what has arrived,
//! at least one byte).
//!
//! Device names: `\\.\COMn` opens `/dev/ttyS{n-1}`; `\\.\<Linux path>`
//! (e.g. `\\.\/dev/ttyUSB0`, what Asio makes of `serial_port("/dev/ttyUSB0")`)
//! opens that path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::error::{boundary, errno, fail};
use crate::types::*;

/// `DCB`: 28 bytes; `flags` holds the bit fields, from `fBinary` at bit 0.
#[repr(C)]
struct Dcb {
    dcb_length: DWORD,
    baud_rate: DWORD,
    flags: DWORD,
    reserved: WORD,
    xon_lim: WORD,
    xoff_lim: WORD,
    byte_size: BYTE,
    parity: BYTE,
    stop_bits: BYTE,
    xon_char: i8,
    xoff_char: i8,
    error_char: i8,
    eof_char: i8,
    evt_char: i8,
    reserved1: WORD,
}

const F_BINARY: DWORD = 1 << 0;
const F_PARITY: DWORD = 1 << 1;
const F_OUTX_CTS_FLOW: DWORD = 1 << 2;
const F_OUTX: DWORD = 1 << 8;
const F_INX: DWORD = 1 << 9;
const RTS_CONTROL_SHIFT: u32 = 12;
const RTS_CONTROL_HANDSHAKE: DWORD = 2;
const DTR_CONTROL_SHIFT: u32 = 4;
const DTR_CONTROL_ENABLE: DWORD = 1;

const NOPARITY: BYTE = 0;
const ODDPARITY: BYTE = 1;
const EVENPARITY: BYTE = 2;
const MARKPARITY: BYTE = 3;
const SPACEPARITY: BYTE = 4;
const ONESTOPBIT: BYTE = 0;
const TWOSTOPBITS: BYTE = 2;

/// `COMMTIMEOUTS`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CommTimeouts {
    read_interval: DWORD,
    read_total_multiplier: DWORD,
    read_total_constant: DWORD,
    write_total_multiplier: DWORD,
    write_total_constant: DWORD,
}

static TIMEOUTS: Mutex<Option<HashMap<usize, CommTimeouts>>> = Mutex::new(None);

const SPEEDS: [(DWORD, libc::speed_t); 23] = [
    (50, libc::B50),
    (75, libc::B75),
    (110, libc::B110),
    (134, libc::B134),
    (150, libc::B150),
    (200, libc::B200),
    (300, libc::B300),
    (600, libc::B600),
    (1200, libc::B1200),
    (1800, libc::B1800),
    (2400, libc::B2400),
    (4800, libc::B4800),
    (9600, libc::B9600),
    (19200, libc::B19200),
    (38400, libc::B38400),
    (57600, libc::B57600),
    (115200, libc::B115200),
    (230400, libc::B230400),
    (460800, libc::B460800),
    (500000, libc::B500000),
    (921600, libc::B921600),
    (1000000, libc::B1000000),
    (2000000, libc::B2000000),
];

/// The Linux path a Windows device name stands for (see the module docs);
/// other paths are returned as they are.
pub(crate) fn device_path(path: PathBuf) -> PathBuf {
    let Some(s) = path.to_str() else {
        return path;
    };
    let Some(dev) = s.strip_prefix("\\\\.\\") else {
        return path;
    };
    if dev.starts_with('/') {
        return PathBuf::from(dev);
    }
    let upper = dev.to_ascii_uppercase();
    if let Some(n) = upper
        .strip_prefix("COM")
        .and_then(|n| n.parse::<u32>().ok())
    {
        if n >= 1 {
            return PathBuf::from(format!("/dev/ttyS{}", n - 1));
        }
    }
    path
}

/// The terminal settings of the fd behind `h`, or the Win32 error.
fn termios_of(h: HANDLE) -> Result<(i32, libc::termios), DWORD> {
    let obj = crate::handles::io(h as usize).ok_or(ERROR_INVALID_HANDLE)?;
    if obj.is_socket() {
        return Err(ERROR_INVALID_FUNCTION);
    }
    let fd = obj.current().ok_or(ERROR_INVALID_HANDLE)?;
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(ERROR_INVALID_FUNCTION);
    }
    Ok((fd, t))
}

/// `GetCommState`.
///
/// # Safety
/// `dcb` must be NULL or point to a writable `DCB`.
#[no_mangle]
pub unsafe extern "C" fn GetCommState(h: HANDLE, dcb: *mut u8) -> BOOL {
    boundary(FALSE, || {
        if dcb.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        let (_, t) = match termios_of(h) {
            Ok(x) => x,
            Err(e) => return fail(e, FALSE),
        };
        // SAFETY: t is a valid termios.
        let speed = unsafe { libc::cfgetospeed(&t) };
        let baud = SPEEDS.iter().find(|s| s.1 == speed).map_or(0, |s| s.0);
        let byte_size = match t.c_cflag & libc::CSIZE {
            libc::CS5 => 5,
            libc::CS6 => 6,
            libc::CS7 => 7,
            _ => 8,
        };
        let parity = if t.c_cflag & libc::PARENB == 0 {
            NOPARITY
        } else if t.c_cflag & libc::CMSPAR != 0 {
            if t.c_cflag & libc::PARODD != 0 {
                MARKPARITY
            } else {
                SPACEPARITY
            }
        } else if t.c_cflag & libc::PARODD != 0 {
            ODDPARITY
        } else {
            EVENPARITY
        };
        let mut flags = F_BINARY | DTR_CONTROL_ENABLE << DTR_CONTROL_SHIFT;
        if parity != NOPARITY {
            flags |= F_PARITY;
        }
        if t.c_cflag & libc::CRTSCTS != 0 {
            flags |= F_OUTX_CTS_FLOW | RTS_CONTROL_HANDSHAKE << RTS_CONTROL_SHIFT;
        }
        if t.c_iflag & libc::IXON != 0 {
            flags |= F_OUTX;
        }
        if t.c_iflag & libc::IXOFF != 0 {
            flags |= F_INX;
        }
        let d = dcb.cast::<Dcb>();
        // SAFETY: a writable DCB (caller contract); DCBlength is the caller's.
        unsafe {
            let length = (*d).dcb_length;
            d.write_unaligned(Dcb {
                dcb_length: length,
                baud_rate: baud,
                flags,
                reserved: 0,
                xon_lim: 2048,
                xoff_lim: 512,
                byte_size,
                parity,
                stop_bits: if t.c_cflag & libc::CSTOPB != 0 {
                    TWOSTOPBITS
                } else {
                    ONESTOPBIT
                },
                xon_char: t.c_cc[libc::VSTART] as i8,
                xoff_char: t.c_cc[libc::VSTOP] as i8,
                error_char: 0,
                eof_char: t.c_cc[libc::VEOF] as i8,
                evt_char: 0,
                reserved1: 0,
            });
        }
        TRUE
    })
}

/// `SetCommState` (see the module docs for what maps).
///
/// # Safety
/// `dcb` must be NULL or point to a valid `DCB`.
#[no_mangle]
pub unsafe extern "C" fn SetCommState(h: HANDLE, dcb: *const u8) -> BOOL {
    boundary(FALSE, || {
        if dcb.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        let (fd, mut t) = match termios_of(h) {
            Ok(x) => x,
            Err(e) => return fail(e, FALSE),
        };
        // SAFETY: a valid DCB (caller contract).
        let d = unsafe { dcb.cast::<Dcb>().read_unaligned() };
        let Some(speed) = SPEEDS.iter().find(|s| s.0 == d.baud_rate).map(|s| s.1) else {
            return fail(ERROR_INVALID_PARAMETER, FALSE);
        };
        let size = match d.byte_size {
            5 => libc::CS5,
            6 => libc::CS6,
            7 => libc::CS7,
            8 => libc::CS8,
            _ => return fail(ERROR_INVALID_PARAMETER, FALSE),
        };
        let parity = match d.parity {
            NOPARITY => 0,
            ODDPARITY => libc::PARENB | libc::PARODD,
            EVENPARITY => libc::PARENB,
            MARKPARITY => libc::PARENB | libc::CMSPAR | libc::PARODD,
            SPACEPARITY => libc::PARENB | libc::CMSPAR,
            _ => return fail(ERROR_INVALID_PARAMETER, FALSE),
        };
        let stop = match d.stop_bits {
            ONESTOPBIT => 0,
            TWOSTOPBITS => libc::CSTOPB,
            _ => return fail(ERROR_INVALID_PARAMETER, FALSE),
        };
        // SAFETY: t is a valid termios.
        unsafe { libc::cfmakeraw(&mut t) };
        t.c_cflag &= !(libc::CSIZE
            | libc::PARENB
            | libc::PARODD
            | libc::CMSPAR
            | libc::CSTOPB
            | libc::CRTSCTS);
        t.c_cflag |= size | parity | stop | libc::CREAD | libc::CLOCAL;
        let rts = (d.flags >> RTS_CONTROL_SHIFT) & 3;
        if d.flags & F_OUTX_CTS_FLOW != 0 || rts == RTS_CONTROL_HANDSHAKE {
            t.c_cflag |= libc::CRTSCTS;
        }
        t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
        if d.flags & F_OUTX != 0 {
            t.c_iflag |= libc::IXON;
        }
        if d.flags & F_INX != 0 {
            t.c_iflag |= libc::IXOFF;
        }
        if d.xon_char != 0 {
            t.c_cc[libc::VSTART] = d.xon_char as u8;
        }
        if d.xoff_char != 0 {
            t.c_cc[libc::VSTOP] = d.xoff_char as u8;
        }
        // Reads return what has arrived, at least one byte.
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: t is a valid termios; fd is the handle's.
        let ok = unsafe {
            libc::cfsetispeed(&mut t, speed) == 0
                && libc::cfsetospeed(&mut t, speed) == 0
                && libc::tcsetattr(fd, libc::TCSANOW, &t) == 0
        };
        if !ok {
            return fail(crate::error::errno_to_win32(errno()), FALSE);
        }
        TRUE
    })
}

/// `GetCommTimeouts`: what `SetCommTimeouts` stored (zeros before).
///
/// # Safety
/// `out` must be NULL or point to a writable `COMMTIMEOUTS`.
#[no_mangle]
pub unsafe extern "C" fn GetCommTimeouts(h: HANDLE, out: *mut u8) -> BOOL {
    boundary(FALSE, || {
        if out.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        if let Err(e) = termios_of(h) {
            return fail(e, FALSE);
        }
        let t = TIMEOUTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|m| m.get(&(h as usize)).copied())
            .unwrap_or_default();
        // SAFETY: a writable COMMTIMEOUTS (caller contract).
        unsafe { out.cast::<CommTimeouts>().write_unaligned(t) };
        TRUE
    })
}

/// `SetCommTimeouts`: remembered for `GetCommTimeouts`.
///
/// # Safety
/// `t` must be NULL or point to a valid `COMMTIMEOUTS`.
#[no_mangle]
pub unsafe extern "C" fn SetCommTimeouts(h: HANDLE, t: *const u8) -> BOOL {
    boundary(FALSE, || {
        if t.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        if let Err(e) = termios_of(h) {
            return fail(e, FALSE);
        }
        // SAFETY: a valid COMMTIMEOUTS (caller contract).
        let v = unsafe { t.cast::<CommTimeouts>().read_unaligned() };
        TIMEOUTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(h as usize, v);
        TRUE
    })
}
