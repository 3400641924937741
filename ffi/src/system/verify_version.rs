//! `VerSetConditionMask` and `VerifyVersionInfoA/W`: version checks against
//! what `GetVersionEx` reports (Windows 6.2 build 9200, NT platform, no
//! service pack, a workstation).

use crate::error::{boundary, fail};
use crate::types::*;

const VER_MINORVERSION: DWORD = 0x01;
const VER_MAJORVERSION: DWORD = 0x02;
const VER_BUILDNUMBER: DWORD = 0x04;
const VER_PLATFORMID: DWORD = 0x08;
const VER_SERVICEPACKMINOR: DWORD = 0x10;
const VER_SERVICEPACKMAJOR: DWORD = 0x20;
const VER_SUITENAME: DWORD = 0x40;
const VER_PRODUCT_TYPE: DWORD = 0x80;
const VER_EQUAL: u8 = 1;
const VER_GREATER: u8 = 2;
const VER_GREATER_EQUAL: u8 = 3;
const VER_LESS: u8 = 4;
const VER_LESS_EQUAL: u8 = 5;
const VER_AND: u8 = 6;
const VER_OR: u8 = 7;
const ERROR_OLD_WIN_VERSION: DWORD = 1150;

/// The condition recorded for one type bit (3 bits per type, in bit order).
fn condition_of(mask: u64, ty: DWORD) -> u8 {
    ((mask >> (ty.trailing_zeros() * 3)) & 7) as u8
}

/// `VerSetConditionMask`: records `condition` for each type bit in `type_mask`.
#[no_mangle]
pub extern "C" fn VerSetConditionMask(mask: u64, type_mask: DWORD, condition: u8) -> u64 {
    boundary(mask, || {
        if condition == 0 {
            return mask;
        }
        let mut m = mask;
        for bit in 0..8 {
            if type_mask & (1 << bit) != 0 {
                m &= !(7u64 << (bit * 3));
                m |= u64::from(condition & 7) << (bit * 3);
            }
        }
        m
    })
}

fn compare(actual: u64, wanted: u64, condition: u8) -> Option<bool> {
    Some(match condition {
        VER_EQUAL => actual == wanted,
        VER_GREATER => actual > wanted,
        VER_GREATER_EQUAL => actual >= wanted,
        VER_LESS => actual < wanted,
        VER_LESS_EQUAL => actual <= wanted,
        _ => return None,
    })
}

/// The fields of an `OSVERSIONINFOEX[AW]` a check reads.
struct Wanted {
    major: DWORD,
    minor: DWORD,
    build: DWORD,
    platform: DWORD,
    sp_major: WORD,
    sp_minor: WORD,
    suite: WORD,
    product: BYTE,
}

fn verify(w: &Wanted, type_mask: DWORD, mask: u64) -> BOOL {
    if type_mask == 0 || type_mask & !0xff != 0 {
        return fail(ERROR_INVALID_PARAMETER, FALSE);
    }
    let mut probe: OSVERSIONINFOA = OSVERSIONINFOA {
        dwOSVersionInfoSize: std::mem::size_of::<OSVERSIONINFOA>() as DWORD,
        dwMajorVersion: 0,
        dwMinorVersion: 0,
        dwBuildNumber: 0,
        dwPlatformId: 0,
        szCSDVersion: [0; 128],
    };
    // SAFETY: a valid OSVERSIONINFOA with its size set.
    unsafe { crate::system::GetVersionExA(&mut probe) };
    let mut ok = true;
    // Major, minor and the service pack form one version number, compared
    // with the condition of its most significant field present (Windows' rule).
    let parts = [
        (
            VER_MAJORVERSION,
            u64::from(probe.dwMajorVersion),
            u64::from(w.major),
        ),
        (
            VER_MINORVERSION,
            u64::from(probe.dwMinorVersion),
            u64::from(w.minor),
        ),
        (VER_SERVICEPACKMAJOR, 0, u64::from(w.sp_major)),
        (VER_SERVICEPACKMINOR, 0, u64::from(w.sp_minor)),
    ];
    let present: Vec<_> = parts.iter().filter(|p| type_mask & p.0 != 0).collect();
    if let Some(first) = present.first() {
        let cond = condition_of(mask, first.0);
        let pack = |f: fn(&&(DWORD, u64, u64)) -> u64| {
            present.iter().fold(0u64, |acc, p| (acc << 16) | f(p))
        };
        match compare(pack(|p| p.1), pack(|p| p.2), cond) {
            Some(r) => ok &= r,
            None => return fail(ERROR_INVALID_PARAMETER, FALSE),
        }
    }
    let singles = [
        (
            VER_BUILDNUMBER,
            u64::from(probe.dwBuildNumber),
            u64::from(w.build),
        ),
        (
            VER_PLATFORMID,
            u64::from(probe.dwPlatformId),
            u64::from(w.platform),
        ),
        (VER_PRODUCT_TYPE, 1, u64::from(w.product)),
    ];
    for (ty, actual, wanted) in singles {
        if type_mask & ty != 0 {
            match compare(actual, wanted, condition_of(mask, ty)) {
                Some(r) => ok &= r,
                None => return fail(ERROR_INVALID_PARAMETER, FALSE),
            }
        }
    }
    if type_mask & VER_SUITENAME != 0 {
        // No suite is installed: VER_AND of any suite fails, VER_OR of none.
        match condition_of(mask, VER_SUITENAME) {
            VER_AND | VER_OR => ok &= w.suite == 0,
            _ => return fail(ERROR_INVALID_PARAMETER, FALSE),
        }
    }
    if ok {
        TRUE
    } else {
        fail(ERROR_OLD_WIN_VERSION, FALSE)
    }
}

/// `VerifyVersionInfoA`.
///
/// # Safety
/// `info` must point to a valid `OSVERSIONINFOEXA`.
#[no_mangle]
pub unsafe extern "C" fn VerifyVersionInfoA(
    info: *const OSVERSIONINFOEXA,
    type_mask: DWORD,
    mask: u64,
) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid structure (caller contract).
        let i = unsafe { &*info };
        let w = Wanted {
            major: i.dwMajorVersion,
            minor: i.dwMinorVersion,
            build: i.dwBuildNumber,
            platform: i.dwPlatformId,
            sp_major: i.wServicePackMajor,
            sp_minor: i.wServicePackMinor,
            suite: i.wSuiteMask,
            product: i.wProductType,
        };
        verify(&w, type_mask, mask)
    })
}

/// `VerifyVersionInfoW` (the W structure: 32-bit `WCHAR`s in `szCSDVersion`,
/// so the EX fields start at byte 532).
///
/// # Safety
/// `info` must point to a valid `OSVERSIONINFOEXW`.
#[no_mangle]
pub unsafe extern "C" fn VerifyVersionInfoW(info: *const u8, type_mask: DWORD, mask: u64) -> BOOL {
    boundary(FALSE, || {
        if info.is_null() {
            return fail(ERROR_NOACCESS, FALSE);
        }
        // SAFETY: a valid OSVERSIONINFOEXW (caller contract): five DWORDs,
        // 128 four-byte WCHARs, then the EX fields.
        let (d, ex) = unsafe {
            let d = std::slice::from_raw_parts(info.cast::<DWORD>(), 5).to_vec();
            let ex = info.add(20 + 128 * 4);
            (d, ex)
        };
        // SAFETY: the EX fields are inside the structure (caller contract).
        let word = |at: usize| unsafe { ex.add(at).cast::<WORD>().read_unaligned() };
        let w = Wanted {
            major: d[1],
            minor: d[2],
            build: d[3],
            platform: d[4],
            sp_major: word(0),
            sp_minor: word(2),
            suite: word(4),
            // SAFETY: as above.
            product: unsafe { *ex.add(6) },
        };
        verify(&w, type_mask, mask)
    })
}
