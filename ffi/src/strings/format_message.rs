//! `FormatMessageA`/`FormatMessageW` with the system's message texts for
//! the error numbers cport reports, and `LocalAlloc`/`LocalFree`, which own
//! the buffers `FORMAT_MESSAGE_ALLOCATE_BUFFER` returns.
//!
//! # Implementation notes
//!
//! The texts are Windows' own (English) system messages, each ending in
//! `"\r\n"` as there, for every Win32 and Winsock error number cport sets;
//! another number fails with `ERROR_MR_MID_NOT_FOUND` (317). Languages:
//! 0, `LANG_NEUTRAL` and `LANG_ENGLISH` with any sublanguage; another
//! fails with `ERROR_RESOURCE_LANG_NOT_FOUND` (1815). A message from
//! `FORMAT_MESSAGE_FROM_STRING` is formatted by the same rules.
//!
//! Escapes: `%0` ends the message (no final line break), `%n` is a line
//! break, `%%`, `%.`, `%!`, `%r`, `%t`, `%b` and `% ` are as documented.
//! Inserts (`%1`…`%99`, optionally with `!s!`, `!d!`, `!u!`, `!x!`, `!X!`,
//! `!i!`, `!ld!`, `!lu!`, `!lx!`, `!p!` formats) are copied as they are with
//! `FORMAT_MESSAGE_IGNORE_INSERTS`, filled from a `DWORD_PTR` array with
//! `FORMAT_MESSAGE_ARGUMENT_ARRAY`, and otherwise from the caller's
//! `va_list *` (x86-64: its System V layout is read, each insert one
//! integer-class argument, in number order, as Windows takes them; other
//! architectures: `ERROR_INVALID_PARAMETER`). A message with inserts and
//! neither arguments nor `IGNORE_INSERTS` fails with `ERROR_INVALID_PARAMETER`. `FORMAT_MESSAGE_MAX_WIDTH_MASK`
//! (255) removes the text's own line breaks; other widths do not wrap.
//!
//! `LocalAlloc` is the process heap (`HeapAlloc`), so `LocalFree` refuses a
//! pointer that is not a live block instead of corrupting memory.

use std::ffi::{c_char, c_void, CStr};

use crate::error::{boundary, fail};
use crate::types::*;
use crate::types_sync::*;

/// Windows' English system message for `id`, without the final "\r\n".
fn system_message(id: DWORD) -> Option<&'static str> {
    Some(match id {
        0 => "The operation completed successfully.",
        1 => "Incorrect function.",
        2 => "The system cannot find the file specified.",
        3 => "The system cannot find the path specified.",
        4 => "The system cannot open the file.",
        5 => "Access is denied.",
        6 => "The handle is invalid.",
        8 => "Not enough memory resources are available to process this command.",
        19 => "The media is write protected.",
        31 => "A device attached to the system is not functioning.",
        32 => "The process cannot access the file because it is being used by another process.",
        38 => "Reached the end of the file.",
        50 => "The request is not supported.",
        64 => "The specified network name is no longer available.",
        80 => "The file exists.",
        87 => "The parameter is incorrect.",
        109 => "The pipe has been ended.",
        112 => "There is not enough space on the disk.",
        121 => "The semaphore timeout period has expired.",
        122 => "The data area passed to a system call is too small.",
        131 => "An attempt was made to move the file pointer before the beginning of the file.",
        183 => "Cannot create a file when that file already exists.",
        206 => "The filename or extension is too long.",
        234 => "More data is available.",
        258 => "The wait operation timed out.",
        259 => "No more data is available.",
        288 => "Attempt to release mutex not owned by caller.",
        298 => "Too many posts were made to a semaphore.",
        317 => "The system cannot find message text for message number 0x%1 in the message file for %2.",
        487 => "Attempt to access invalid address.",
        735 => "ERROR_ABANDONED_WAIT_0",
        995 => "The I/O operation has been aborted because of either a thread exit or an application request.",
        996 => "Overlapped I/O event is not in a signaled state.",
        997 => "Overlapped I/O operation is in progress.",
        998 => "Invalid access to memory location.",
        1004 => "Invalid flags.",
        1117 => "The request could not be performed because of an I/O device error.",
        1168 => "Element not found.",
        1225 => "The remote computer refused the network connection.",
        1229 => "An operation was attempted on a nonexistent network connection.",
        1231 | 1232 => "The network location cannot be reached. For information about network troubleshooting, see Windows Help.",
        1234 => "No service is operating at the destination network endpoint on the remote system.",
        1236 => "The network connection was aborted by the local system.",
        1359 => "An internal error occurred.",
        1460 => "This operation returned because the timeout period expired.",
        1815 => "The specified resource language ID cannot be found in the image file.",
        10004 => "A blocking operation was interrupted by a call to WSACancelBlockingCall.",
        10009 => "The file handle supplied is not valid.",
        10013 => "An attempt was made to access a socket in a way forbidden by its access permissions.",
        10014 => "The system detected an invalid pointer address in attempting to use a pointer argument in a call.",
        10022 => "An invalid argument was supplied.",
        10024 => "Too many open sockets.",
        10035 => "A non-blocking socket operation could not be completed immediately.",
        10036 => "A blocking operation is currently executing.",
        10037 => "An operation was attempted on a non-blocking socket that already had an operation in progress.",
        10038 => "An operation was attempted on something that is not a socket.",
        10039 => "A required address was omitted from an operation on a socket.",
        10040 => "A message sent on a datagram socket was larger than the internal message buffer or some other network limit, or the buffer used to receive a datagram into was smaller than the datagram itself.",
        10041 => "A protocol was specified in the socket function call that does not support the semantics of the socket type requested.",
        10042 => "An unknown, invalid, or unsupported option or level was specified in a getsockopt or setsockopt call.",
        10043 => "The requested protocol has not been configured into the system, or no implementation for it exists.",
        10044 => "The support for the specified socket type does not exist in this address family.",
        10045 => "The attempted operation is not supported for the type of object referenced.",
        10046 => "The protocol family has not been configured into the system or no implementation for it exists.",
        10047 => "An address incompatible with the requested protocol was used.",
        10048 => "Only one usage of each socket address (protocol/network address/port) is normally permitted.",
        10049 => "The requested address is not valid in its context.",
        10050 => "A socket operation encountered a dead network.",
        10051 => "A socket operation was attempted to an unreachable network.",
        10052 => "The connection has been broken due to keep-alive activity detecting a failure while the operation was in progress.",
        10053 => "An established connection was aborted by the software in your host machine.",
        10054 => "An existing connection was forcibly closed by the remote host.",
        10055 => "An operation on a socket could not be performed because the system lacked sufficient buffer space or because a queue was full.",
        10056 => "A connect request was made on an already connected socket.",
        10057 => "A request to send or receive data was disallowed because the socket is not connected and (when sending on a datagram socket using a sendto call) no address was supplied.",
        10058 => "A request to send or receive data was disallowed because the socket had already been shut down in that direction with a previous shutdown call.",
        10059 => "Too many references to some kernel object.",
        10060 => "A connection attempt failed because the connected party did not properly respond after a period of time, or established connection failed because connected host has failed to respond.",
        10061 => "No connection could be made because the target machine actively refused it.",
        10062 => "Cannot translate name.",
        10063 => "Name component or name was too long.",
        10064 => "A socket operation failed because the destination host was down.",
        10065 => "A socket operation was attempted to an unreachable host.",
        10091 => "WSAStartup cannot function at this time because the underlying system it uses to provide network services is currently unavailable.",
        10092 => "The Windows Sockets version requested is not supported.",
        10093 => "Either the application has not called WSAStartup, or WSAStartup failed.",
        10101 => "Returned by WSARecv or WSARecvFrom to indicate the remote party has initiated a graceful shutdown sequence.",
        10109 => "The specified class was not found.",
        11001 => "No such host is known.",
        11002 => "This is usually a temporary error during hostname resolution and means that the local server did not receive a response from an authoritative server.",
        11003 => "A non-recoverable error occurred during a database lookup.",
        11004 => "The requested name is valid, but no data of the requested type was found.",
        _ => return None,
    })
}

fn language_ok(lang: DWORD) -> bool {
    let primary = lang & 0x3FF;
    primary == LANG_NEUTRAL || primary == LANG_ENGLISH
}

/// Formats `%N!fmt!` from the argument array.
///
/// # Safety
/// `args` must hold at least `n` entries; a `!s!` entry must point to a
/// NUL-terminated string.
unsafe fn insert(args: *const usize, n: usize, fmt: &str, out: &mut String) -> Result<(), DWORD> {
    // SAFETY: at least `n` entries (caller contract); n >= 1.
    let v = unsafe { args.add(n - 1).read() };
    match fmt {
        "s" => {
            if v != 0 {
                // SAFETY: a NUL-terminated string (caller contract).
                let s = unsafe { CStr::from_ptr(v as *const c_char) };
                out.push_str(&s.to_string_lossy());
            }
        }
        "d" | "i" | "ld" | "li" => out.push_str(&(v as i32).to_string()),
        "u" | "lu" => out.push_str(&(v as u32).to_string()),
        "x" | "lx" => out.push_str(&format!("{:x}", v as u32)),
        "X" | "lX" => out.push_str(&format!("{:X}", v as u32)),
        "p" => out.push_str(&format!("{v:016X}")),
        _ => return Err(ERROR_INVALID_PARAMETER),
    }
    Ok(())
}

/// Applies the escapes and inserts to `text`.
///
/// # Safety
/// With `args` non-NULL, as `insert`.
unsafe fn format(text: &str, flags: DWORD, args: *const usize) -> Result<String, DWORD> {
    let strip_breaks = flags & FORMAT_MESSAGE_MAX_WIDTH_MASK == FORMAT_MESSAGE_MAX_WIDTH_MASK;
    let ignore = flags & FORMAT_MESSAGE_IGNORE_INSERTS != 0;
    let mut out = String::with_capacity(text.len() + 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' if strip_breaks => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
            }
            '%' => match chars.next() {
                None => out.push('%'),
                Some('0') => return Ok(out),
                Some('n') => out.push_str("\r\n"),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') | Some(' ') => out.push(' '),
                Some(d @ '1'..='9') => {
                    let mut n = d.to_digit(10).unwrap_or(1) as usize;
                    let mut spec = format!("%{d}");
                    if let Some(&d2) = chars.peek().filter(|c| c.is_ascii_digit()) {
                        chars.next();
                        n = n * 10 + d2.to_digit(10).unwrap_or(0) as usize;
                        spec.push(d2);
                    }
                    let mut fmt = String::from("s");
                    if chars.peek() == Some(&'!') {
                        chars.next();
                        fmt.clear();
                        for f in chars.by_ref() {
                            if f == '!' {
                                break;
                            }
                            fmt.push(f);
                        }
                        spec.push('!');
                        spec.push_str(&fmt);
                        spec.push('!');
                    }
                    if ignore {
                        out.push_str(&spec);
                    } else if flags & FORMAT_MESSAGE_ARGUMENT_ARRAY != 0 && !args.is_null() {
                        // SAFETY: forwarded caller contract.
                        unsafe { insert(args, n, &fmt, &mut out)? };
                    } else {
                        return Err(ERROR_INVALID_PARAMETER);
                    }
                }
                Some(other) => out.push(other),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The formatted message of a call, or its error.
///
/// # Safety
/// `source` must be a NUL-terminated string (of `wide` units) with
/// `FORMAT_MESSAGE_FROM_STRING`; `args` as in `format`.
unsafe fn message(
    flags: DWORD,
    source: *const c_void,
    id: DWORD,
    lang: DWORD,
    args: *const usize,
    wide: bool,
) -> Result<String, DWORD> {
    let text: String = if flags & FORMAT_MESSAGE_FROM_STRING != 0 {
        if source.is_null() {
            return Err(ERROR_INVALID_PARAMETER);
        }
        if wide {
            // SAFETY: a NUL-terminated wide string (caller contract).
            let len = unsafe { libc::wcslen(source.cast()) };
            // SAFETY: `len` units before the NUL.
            let units = unsafe { std::slice::from_raw_parts(source.cast::<u32>(), len) };
            units
                .iter()
                .map(|&u| char::from_u32(u).unwrap_or('\u{FFFD}'))
                .collect()
        } else {
            // SAFETY: a NUL-terminated string (caller contract).
            unsafe { CStr::from_ptr(source.cast()) }
                .to_string_lossy()
                .into_owned()
        }
    } else if flags & FORMAT_MESSAGE_FROM_SYSTEM != 0 {
        if !language_ok(lang) {
            return Err(ERROR_RESOURCE_LANG_NOT_FOUND);
        }
        let text = system_message(id).ok_or(ERROR_MR_MID_NOT_FOUND)?;
        format!("{text}\r\n")
    } else {
        // FORMAT_MESSAGE_FROM_HMODULE alone: no message tables on Linux.
        return Err(ERROR_INVALID_PARAMETER);
    };
    let inserts_from_va_list =
        flags & (FORMAT_MESSAGE_IGNORE_INSERTS | FORMAT_MESSAGE_ARGUMENT_ARRAY) == 0
            && !args.is_null();
    if inserts_from_va_list {
        // SAFETY: `args` is the caller's `va_list *` (caller contract).
        let array = unsafe { va_list_args(args.cast_mut().cast(), max_insert(&text))? };
        // SAFETY: `array` covers every insert of the text.
        return unsafe { format(&text, flags | FORMAT_MESSAGE_ARGUMENT_ARRAY, array.as_ptr()) };
    }
    // SAFETY: forwarded caller contract.
    unsafe { format(&text, flags, args) }
}

/// The highest insert number (`%1`…`%99`) in `text`.
fn max_insert(text: &str) -> usize {
    let mut max = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        // The character after '%' is consumed either way (so "%%1" is no insert).
        if let Some(d @ '1'..='9') = chars.next() {
            let mut n = d.to_digit(10).unwrap_or(0) as usize;
            if let Some(d2) = chars.peek().and_then(|c| c.to_digit(10)) {
                chars.next();
                n = n * 10 + d2 as usize;
            }
            max = max.max(n);
        }
    }
    max
}

/// The System V x86-64 `va_list` (what a `va_list *` points to).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct VaList {
    gp_offset: u32,
    fp_offset: u32,
    overflow_arg_area: *mut u8,
    reg_save_area: *mut u8,
}

/// Takes the next `n` integer-class arguments (pointers, integers: every
/// insert FormatMessage knows) off the caller's `va_list`, as Windows does;
/// the `va_list` is consumed (its state is undefined afterwards there too).
///
/// # Safety
/// `va` must point to a live `va_list` with at least `n` such arguments left.
#[cfg(target_arch = "x86_64")]
unsafe fn va_list_args(va: *mut VaList, n: usize) -> Result<Vec<usize>, DWORD> {
    /// Six general-purpose argument registers of 8 bytes in the save area.
    const GP_AREA: u32 = 48;
    // SAFETY: a live va_list (caller contract).
    let va = unsafe { &mut *va };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: the ABI's layout: the next argument is in the register
        // save area while gp_offset < 48, else in the overflow area; each
        // integer-class argument takes 8 bytes (caller contract: it exists).
        let v = unsafe {
            if va.gp_offset < GP_AREA {
                let p = va.reg_save_area.add(va.gp_offset as usize).cast::<usize>();
                va.gp_offset += 8;
                p.read_unaligned()
            } else {
                let p = va.overflow_arg_area.cast::<usize>();
                va.overflow_arg_area = va.overflow_arg_area.add(8);
                p.read_unaligned()
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// Other architectures: a `va_list` is not read.
///
/// # Safety
/// Nothing is read.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn va_list_args(_va: *mut u8, n: usize) -> Result<Vec<usize>, DWORD> {
    if n == 0 {
        Ok(Vec::new())
    } else {
        Err(ERROR_INVALID_PARAMETER)
    }
}

/// Writes `units` (+ NUL) to the caller's buffer or a new `LocalAlloc` one.
///
/// # Safety
/// As `FormatMessageA`'s buffer contract, for units of `T`.
unsafe fn deliver<T: Copy + Default>(
    flags: DWORD,
    buffer: *mut c_void,
    size: DWORD,
    units: &[T],
) -> DWORD {
    let need = units.len() + 1;
    let dest: *mut T = if flags & FORMAT_MESSAGE_ALLOCATE_BUFFER != 0 {
        if buffer.is_null() {
            return fail(ERROR_INVALID_PARAMETER, 0);
        }
        let cap = need.max(size as usize);
        let p = LocalAlloc(LMEM_FIXED, cap * std::mem::size_of::<T>());
        if p.is_null() {
            return fail(ERROR_NOT_ENOUGH_MEMORY, 0);
        }
        // SAFETY: with ALLOCATE_BUFFER, `buffer` is really a pointer to the
        // caller's pointer variable (caller contract).
        unsafe { buffer.cast::<*mut c_void>().write(p) };
        p.cast()
    } else {
        if buffer.is_null() || (size as usize) < need {
            return fail(ERROR_INSUFFICIENT_BUFFER, 0);
        }
        buffer.cast()
    };
    // SAFETY: `dest` holds at least `need` units (allocated or checked).
    unsafe {
        std::ptr::copy_nonoverlapping(units.as_ptr(), dest, units.len());
        dest.add(units.len()).write(T::default());
    }
    units.len() as DWORD
}

/// A message's UTF-32 units, for `FormatMessageW`.
fn utf32_units(m: String) -> Vec<u32> {
    m.chars().map(u32::from).collect()
}

/// Defines `FormatMessageA` and `FormatMessageW`: the [`message`], narrow or
/// wide, delivered as the units `$units` makes of it.
macro_rules! format_message_export {
    ($(#[$attr:meta])* fn $export:ident, wide: $wide:literal, units: $units:path) => {
        $(#[$attr])*
        #[no_mangle]
        pub unsafe extern "C" fn $export(
            flags: DWORD,
            source: *const c_void,
            id: DWORD,
            lang: DWORD,
            buffer: *mut c_void,
            size: DWORD,
            args: *mut c_void,
        ) -> DWORD {
            boundary(0, || {
                // SAFETY: forwarded caller contract.
                match unsafe { message(flags, source, id, lang, args.cast(), $wide) } {
                    Ok(m) => {
                        let units = $units(m);
                        // SAFETY: forwarded caller contract.
                        unsafe { deliver(flags, buffer, size, &units) }
                    }
                    Err(e) => fail(e, 0),
                }
            })
        }
    };
}

format_message_export! {
    /// `FormatMessageA`: the number of characters stored (without the NUL), or
    /// 0 with the error.
    ///
    /// # Safety
    /// `source` must be a NUL-terminated string with `FORMAT_MESSAGE_FROM_STRING`;
    /// `buffer` valid for `size` bytes, or, with `FORMAT_MESSAGE_ALLOCATE_BUFFER`,
    /// a `LPSTR *`; `args` a `DWORD_PTR` array covering the inserts with
    /// `FORMAT_MESSAGE_ARGUMENT_ARRAY`.
    fn FormatMessageA, wide: false, units: String::into_bytes
}

format_message_export! {
    /// `FormatMessageW`: as `FormatMessageA`, in (32-bit) wide characters.
    ///
    /// # Safety
    /// As `FormatMessageA`, with wide strings and `size` in characters.
    fn FormatMessageW, wide: true, units: utf32_units
}

/// `LocalAlloc`: `LMEM_FIXED` memory from the process heap (`LMEM_ZEROINIT`
/// zeroes it); `LMEM_MOVEABLE` is not supported (`ERROR_INVALID_PARAMETER`).
#[no_mangle]
pub extern "C" fn LocalAlloc(flags: UINT, bytes: usize) -> *mut c_void {
    boundary(std::ptr::null_mut(), || {
        if flags & !LMEM_ZEROINIT != 0 {
            return fail(ERROR_INVALID_PARAMETER, std::ptr::null_mut());
        }
        let heap_flags = if flags & LMEM_ZEROINIT != 0 {
            HEAP_ZERO_MEMORY
        } else {
            0
        };
        crate::heap::HeapAlloc(crate::heap::GetProcessHeap(), heap_flags, bytes)
    })
}

/// `LocalFree`: NULL once freed (or for NULL); the pointer itself +
/// `ERROR_INVALID_HANDLE` if it is not a live block.
///
/// # Safety
/// `mem` must be NULL or from `LocalAlloc` (or a `FormatMessage` buffer),
/// not freed by another thread meanwhile.
#[no_mangle]
pub unsafe extern "C" fn LocalFree(mem: *mut c_void) -> *mut c_void {
    boundary(mem, || {
        if mem.is_null() {
            return mem;
        }
        // SAFETY: forwarded caller contract; HeapFree refuses foreign pointers.
        if unsafe { crate::heap::HeapFree(crate::heap::GetProcessHeap(), 0, mem) } == FALSE {
            return fail(ERROR_INVALID_HANDLE, mem);
        }
        std::ptr::null_mut()
    })
}
