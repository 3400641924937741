/* heapapi.h — part of cport's windows.h */
#include "windows.h"
