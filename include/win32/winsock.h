/* winsock.h — cport maps it to winsock2.h */
#include "winsock2.h"
