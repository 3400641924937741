/* Windows.h — the spelling some Windows programs use for windows.h (Windows file names
 * are case-insensitive; Linux's are not). The guard keeps a case-insensitive
 * checkout, where the two names are one file, from including itself. */
#ifndef CPORT_ALIAS_WINDOWS_H
#define CPORT_ALIAS_WINDOWS_H
#include "windows.h"
#endif
