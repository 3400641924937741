//! `WSAStringToAddressA/W` and `WSAAddressToStringA/W`: IPv4 and IPv6
//! socket addresses to and from text, as Winsock writes them:
//! `a.b.c.d`, `a.b.c.d:port`, `v6`, `v6%scope`, `[v6%scope]:port` (the port
//! and brackets only when the port is not 0). The protocol-info argument
//! must be NULL (no providers here).

use std::ffi::{c_char, c_void};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{boundary, fail};
use crate::types::*;

const SIN_LEN: usize = std::mem::size_of::<libc::sockaddr_in>();
const SIN6_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

/// A plain-data struct's bytes.
///
/// # Safety
/// `T` must have no padding (every byte initialized).
unsafe fn bytes_of<T>(value: &T) -> Vec<u8> {
    // SAFETY: `value` is valid for `size_of::<T>()` bytes, all initialized
    // (caller contract).
    unsafe {
        std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
    .to_vec()
}

/// A parsed address: the sockaddr bytes.
fn parse(text: &str, family: i32) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('\0');
    match family {
        libc::AF_INET => {
            let (host, port) = match text.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().ok()?),
                None => (text, 0),
            };
            let ip: Ipv4Addr = host.parse().ok()?;
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(ip).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in has no padding (sin_zero fills it out).
            Some(unsafe { bytes_of(&sa) })
        }
        libc::AF_INET6 => {
            let (inner, port) = if let Some(rest) = text.strip_prefix('[') {
                let (inner, after) = rest.split_once(']')?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse::<u16>().ok()?,
                    None if after.is_empty() => 0,
                    None => return None,
                };
                (inner, port)
            } else {
                (text, 0)
            };
            let (host, scope) = match inner.split_once('%') {
                Some((h, s)) => (h, s.parse::<u32>().ok()?),
                None => (inner, 0),
            };
            let ip: Ipv6Addr = host.parse().ok()?;
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: port.to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                sin6_scope_id: scope,
            };
            // SAFETY: sockaddr_in6 has no padding (2 + 2 + 4 + 16 + 4 bytes).
            Some(unsafe { bytes_of(&sa) })
        }
        _ => None,
    }
}

/// The common part of the A and W forms.
///
/// # Safety
/// `out` must be valid for `*len` bytes; `len` valid.
unsafe fn string_to_address(
    text: Option<String>,
    family: i32,
    info: *mut c_void,
    out: *mut u8,
    len: *mut i32,
) -> i32 {
    if !crate::winsock::names::wsa_started() {
        return fail(WSANOTINITIALISED, -1);
    }
    if !info.is_null() {
        return fail(WSAEINVAL, -1);
    }
    let Some(text) = text else {
        return fail(WSAEINVAL, -1);
    };
    if out.is_null() || len.is_null() {
        return fail(WSAEFAULT, -1);
    }
    let Some(bytes) = parse(&text, family) else {
        return fail(WSAEINVAL, -1);
    };
    // SAFETY: valid (caller contract, checked non-NULL).
    let room = unsafe { *len };
    if room < 0 || (room as usize) < bytes.len() {
        // SAFETY: as above.
        unsafe { *len = bytes.len() as i32 };
        return fail(WSAEFAULT, -1);
    }
    // SAFETY: `out` has room for `bytes` (checked against *len).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len());
        *len = bytes.len() as i32;
    }
    0
}

/// The text of a sockaddr, or a Winsock error.
///
/// # Safety
/// `sa` must be valid for `len` bytes.
unsafe fn format(sa: *const u8, len: usize) -> Result<String, DWORD> {
    if sa.is_null() {
        return Err(WSAEFAULT);
    }
    if len < 2 {
        return Err(WSAEFAULT);
    }
    // SAFETY: at least the family is there (checked).
    let family = i32::from(unsafe { sa.cast::<libc::sa_family_t>().read_unaligned() });
    match family {
        libc::AF_INET if len >= SIN_LEN => {
            // SAFETY: a full sockaddr_in (checked).
            let a = unsafe { sa.cast::<libc::sockaddr_in>().read_unaligned() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            let port = u16::from_be(a.sin_port);
            Ok(if port == 0 {
                ip.to_string()
            } else {
                format!("{ip}:{port}")
            })
        }
        libc::AF_INET6 if len >= SIN6_LEN => {
            // SAFETY: a full sockaddr_in6 (checked).
            let a = unsafe { sa.cast::<libc::sockaddr_in6>().read_unaligned() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let mut s = ip.to_string();
            if a.sin6_scope_id != 0 {
                s += &format!("%{}", a.sin6_scope_id);
            }
            let port = u16::from_be(a.sin6_port);
            Ok(if port == 0 {
                s
            } else {
                format!("[{s}]:{port}")
            })
        }
        libc::AF_INET | libc::AF_INET6 => Err(WSAEFAULT),
        _ => Err(WSAEINVAL),
    }
}

/// The common part of the A and W forms: `units_of` makes the text's code
/// units (the terminator comes after them).
///
/// # Safety
/// `out_len` NULL or valid; `out` NULL or valid for `*out_len` units.
unsafe fn address_to_string<T: Copy + Default>(
    sa: *const u8,
    sa_len: DWORD,
    info: *mut c_void,
    out: *mut T,
    out_len: *mut DWORD,
    units_of: fn(&str) -> Vec<T>,
) -> i32 {
    if !crate::winsock::names::wsa_started() {
        return fail(WSANOTINITIALISED, -1);
    }
    if !info.is_null() {
        return fail(WSAEINVAL, -1);
    }
    if out_len.is_null() {
        return fail(WSAEFAULT, -1);
    }
    // SAFETY: forwarded caller contract.
    let text = match unsafe { format(sa, sa_len as usize) } {
        Ok(t) => t,
        Err(e) => return fail(e, -1),
    };
    let units = units_of(&text);
    let need = units.len() + 1;
    // SAFETY: valid (checked non-NULL; caller contract).
    let room = unsafe { *out_len } as usize;
    // SAFETY: as above.
    unsafe { *out_len = need as DWORD };
    if out.is_null() || room < need {
        return fail(WSAEFAULT, -1);
    }
    // SAFETY: `out` is valid for `room >= need` units (caller contract, checked).
    unsafe {
        std::ptr::copy_nonoverlapping(units.as_ptr(), out, units.len());
        out.add(units.len()).write(T::default());
    }
    0
}

/// The text's bytes, for `WSAAddressToStringA`.
fn narrow_units(text: &str) -> Vec<c_char> {
    text.bytes().map(|b| b as c_char).collect()
}

/// The text's UTF-32 units, for `WSAAddressToStringW`.
fn wide_units(text: &str) -> Vec<u32> {
    text.chars().map(u32::from).collect()
}

/// Defines the A or the W form of `WSAStringToAddress` and
/// `WSAAddressToString`: `$unit` is the character type, `$text_of` reads a
/// program's string, `$units_of` writes one.
macro_rules! addr_string_exports {
    (
        $(#[$to_address_attr:meta])*
        fn $to_address:ident;
        $(#[$to_string_attr:meta])*
        fn $to_string:ident;
        unit: $unit:ty, text: $text_of:path, units: $units_of:path
    ) => {
        $(#[$to_address_attr])*
        #[no_mangle]
        pub unsafe extern "C" fn $to_address(
            text: *const $unit,
            family: i32,
            info: *mut c_void,
            out: *mut u8,
            len: *mut i32,
        ) -> i32 {
            // SAFETY: forwarded caller contract (`text` NULL or NUL-terminated).
            boundary(-1, || unsafe {
                string_to_address($text_of(text.cast()), family, info, out, len)
            })
        }

        $(#[$to_string_attr])*
        #[no_mangle]
        pub unsafe extern "C" fn $to_string(
            sa: *const u8,
            sa_len: DWORD,
            info: *mut c_void,
            out: *mut $unit,
            len: *mut DWORD,
        ) -> i32 {
            // SAFETY: forwarded caller contract; the write fits (checked by the callee).
            boundary(-1, || unsafe { address_to_string(sa, sa_len, info, out, len, $units_of) })
        }
    };
}

addr_string_exports! {
    /// `WSAStringToAddressA`: 0, or `SOCKET_ERROR` with `WSAEINVAL` (not an
    /// address of that family) or `WSAEFAULT` (`*lpAddressLength` too small: it
    /// is set to the size needed).
    ///
    /// # Safety
    /// `text` NUL-terminated or NULL; `out` valid for `*len` bytes.
    fn WSAStringToAddressA;
    /// `WSAAddressToStringA`: 0 and `*len` = characters written including the
    /// terminator, or `SOCKET_ERROR` with `WSAEFAULT` (buffer too small: `*len`
    /// is the size needed) or `WSAEINVAL` (not IPv4/IPv6).
    ///
    /// # Safety
    /// `sa` valid for `sa_len` bytes; `out` valid for `*len` bytes.
    fn WSAAddressToStringA;
    unit: c_char, text: crate::strings::narrow, units: narrow_units
}

addr_string_exports! {
    /// `WSAStringToAddressW` (UTF-32 `WCHAR`s).
    ///
    /// # Safety
    /// As `WSAStringToAddressA`.
    fn WSAStringToAddressW;
    /// `WSAAddressToStringW` (UTF-32 `WCHAR`s; `*len` counts characters).
    ///
    /// # Safety
    /// As `WSAAddressToStringA`, with `out` valid for `*len` `WCHAR`s.
    fn WSAAddressToStringW;
    unit: u32, text: crate::strings::wide, units: wide_units
}
