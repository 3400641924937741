/* wincon.h — part of cport's windows.h (console control handlers, standard handles) */
#include "windows.h"
