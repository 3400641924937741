//! The kernel32 string helpers: `lstrlenA/W`, `lstrcpyA/W`, `lstrcpynA/W`,
//! `lstrcatA/W`, `lstrcmpA/W`, `lstrcmpiA/W`. (strsafe.h's functions are
//! inline in the header, as in the Windows SDK.)
//!
//! As on Windows, NULL pointers do not crash: `lstrlen(NULL)` is 0 and the
//! copy/append functions return NULL (Windows catches the access violation).
//! `lstrcmp(i)` compares by code unit (the C locale) — Windows sorts with the
//! user's locale, which only matters for non-ASCII text and punctuation —
//! and returns -1, 0 or 1.
//!
//! It also decodes the NUL-terminated narrow and wide strings other exports
//! take as arguments ([`narrow`], [`wide`]).

pub(crate) mod format_message;

use std::ffi::{c_char, CStr};

use crate::error::boundary;

/// A NUL-terminated narrow string, lossily decoded as UTF-8 (`None` for
/// NULL).
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string.
pub(crate) unsafe fn narrow(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated (caller contract).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A NUL-terminated wide (UTF-32 `wchar_t`) string, an invalid unit
/// becoming U+FFFD (`None` for NULL).
///
/// # Safety
/// `p` must be NULL or a NUL-terminated wide string.
pub(crate) unsafe fn wide(p: *const libc::wchar_t) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated (caller contract).
    let len = unsafe { libc::wcslen(p) };
    // SAFETY: `len` units before the NUL.
    let units = unsafe { std::slice::from_raw_parts(p.cast::<u32>(), len) };
    Some(
        units
            .iter()
            .map(|&u| char::from_u32(u).unwrap_or('\u{FFFD}'))
            .collect(),
    )
}

/// A NUL-terminated string of `T` units.
trait Unit: Copy + Eq + Into<u32> + Default {
    /// The unit case-folded for `lstrcmpi`.
    fn folded(self) -> u32;
}

impl Unit for u8 {
    /// ASCII only: the bytes of an A string are UTF-8 (or any code page).
    fn folded(self) -> u32 {
        u32::from(self.to_ascii_lowercase())
    }
}

impl Unit for u32 {
    fn folded(self) -> u32 {
        char::from_u32(self)
            .map(|ch| {
                let mut l = ch.to_lowercase();
                match (l.next(), l.next()) {
                    (Some(one), None) => one as u32,
                    _ => self,
                }
            })
            .unwrap_or(self)
    }
}

/// # Safety
/// `s` must be non-NULL and NUL-terminated.
unsafe fn len<T: Unit>(s: *const T) -> usize {
    let mut n = 0;
    // SAFETY: NUL-terminated (caller contract); we stop at the NUL.
    while unsafe { *s.add(n) } != T::default() {
        n += 1;
    }
    n
}

/// Copies `src` (with its NUL) to `dst`, or at most `max - 1` units + NUL.
///
/// # Safety
/// `dst` valid for the copy, `src` NUL-terminated, both non-NULL.
unsafe fn copy<T: Unit>(dst: *mut T, src: *const T, max: Option<usize>) {
    // SAFETY: caller contract.
    let mut n = unsafe { len(src) };
    if let Some(m) = max {
        n = n.min(m.saturating_sub(1));
    }
    // SAFETY: caller contract; `copy` (memmove) tolerates overlap.
    unsafe {
        std::ptr::copy(src, dst, n);
        dst.add(n).write(T::default());
    }
}

/// # Safety
/// Both NUL-terminated or NULL.
unsafe fn cmp<T: Unit>(a: *const T, b: *const T, fold_case: bool) -> i32 {
    match (a.is_null(), b.is_null()) {
        (true, true) => return 0,
        (true, false) => return -1,
        (false, true) => return 1,
        _ => {}
    }
    let mut i = 0;
    loop {
        // SAFETY: NUL-terminated (caller contract); we stop at a NUL.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        let (x, y) = if fold_case {
            (x.folded(), y.folded())
        } else {
            (x.into(), y.into())
        };
        if x != y {
            return if x < y { -1 } else { 1 };
        }
        if x == 0 {
            return 0;
        }
        i += 1;
    }
}

macro_rules! lstr_family {
    ($t:ty, $len:ident, $cpy:ident, $cpyn:ident, $cat:ident, $cmp:ident, $cmpi:ident) => {
        /// `lstrlen`: 0 for NULL.
        ///
        /// # Safety
        /// `s` NULL or NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $len(s: *const $t) -> i32 {
            boundary(0, || {
                if s.is_null() {
                    0
                } else {
                    // SAFETY: checked non-NULL; NUL-terminated (caller contract).
                    unsafe { len(s) as i32 }
                }
            })
        }

        /// `lstrcpy`: `dst`, or NULL if either is NULL.
        ///
        /// # Safety
        /// `dst` large enough, `src` NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $cpy(dst: *mut $t, src: *const $t) -> *mut $t {
            boundary(std::ptr::null_mut(), || {
                if dst.is_null() || src.is_null() {
                    return std::ptr::null_mut();
                }
                // SAFETY: caller contract.
                unsafe { copy(dst, src, None) };
                dst
            })
        }

        /// `lstrcpyn`: at most `max - 1` units and a NUL; `dst`, or NULL.
        ///
        /// # Safety
        /// `dst` valid for `max` units, `src` NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $cpyn(dst: *mut $t, src: *const $t, max: i32) -> *mut $t {
            boundary(std::ptr::null_mut(), || {
                if dst.is_null() || src.is_null() {
                    return std::ptr::null_mut();
                }
                if max > 0 {
                    // SAFETY: caller contract.
                    unsafe { copy(dst, src, Some(max as usize)) };
                }
                dst
            })
        }

        /// `lstrcat`: `dst`, or NULL if either is NULL.
        ///
        /// # Safety
        /// `dst` NUL-terminated and large enough, `src` NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $cat(dst: *mut $t, src: *const $t) -> *mut $t {
            boundary(std::ptr::null_mut(), || {
                if dst.is_null() || src.is_null() {
                    return std::ptr::null_mut();
                }
                // SAFETY: caller contract.
                unsafe { copy(dst.add(len(dst)), src, None) };
                dst
            })
        }

        /// `lstrcmp`: -1, 0 or 1, by code unit.
        ///
        /// # Safety
        /// Both NULL or NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $cmp(a: *const $t, b: *const $t) -> i32 {
            // SAFETY: caller contract.
            boundary(0, || unsafe { cmp(a, b, false) })
        }

        /// `lstrcmpi`: as `lstrcmp`, case-insensitively.
        ///
        /// # Safety
        /// Both NULL or NUL-terminated.
        #[no_mangle]
        pub unsafe extern "C" fn $cmpi(a: *const $t, b: *const $t) -> i32 {
            // SAFETY: caller contract.
            boundary(0, || unsafe { cmp(a, b, true) })
        }
    };
}

lstr_family!(
    c_char_unit,
    lstrlenA,
    lstrcpyA,
    lstrcpynA,
    lstrcatA,
    lstrcmpA,
    lstrcmpiA
);
lstr_family!(u32, lstrlenW, lstrcpyW, lstrcpynW, lstrcatW, lstrcmpW, lstrcmpiW);

/// `char` as the unit of the A functions (`c_char` is signed; bytes compare unsigned).
#[allow(non_camel_case_types)]
type c_char_unit = u8;

const _: () = assert!(std::mem::size_of::<c_char>() == std::mem::size_of::<c_char_unit>());
