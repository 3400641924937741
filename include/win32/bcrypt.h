/*
 * bcrypt.h — BCryptGenRandom with the system-preferred generator (Linux's
 * getrandom). Algorithm providers are not provided: hAlgorithm must be NULL
 * with BCRYPT_USE_SYSTEM_PREFERRED_RNG (else STATUS_INVALID_HANDLE).
 */
#ifndef CPORT_BCRYPT_H
#define CPORT_BCRYPT_H
#include "windows.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NTSTATUS_DEFINED
#define NTSTATUS_DEFINED
typedef LONG NTSTATUS, *PNTSTATUS;
#endif
typedef PVOID BCRYPT_HANDLE;
typedef PVOID BCRYPT_ALG_HANDLE;
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#define BCRYPT_RNG_USE_ENTROPY_IN_BUFFER 0x00000001
#ifndef BCRYPT_SUCCESS
#define BCRYPT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#endif

NTSTATUS WINAPI BCryptGenRandom(BCRYPT_ALG_HANDLE hAlgorithm, PUCHAR pbBuffer, ULONG cbBuffer,
                                ULONG dwFlags);

#ifdef __cplusplus
}
#endif
#endif
