/*
 * winapifamily.h — API partitions: cport is a desktop Windows (every
 * partition a desktop program sees is on; WINAPI_FAMILY_PARTITION(p) is p).
 */
#ifndef CPORT_WINAPIFAMILY_H
#define CPORT_WINAPIFAMILY_H
#define WINAPI_FAMILY_PC_APP        2
#define WINAPI_FAMILY_PHONE_APP     3
#define WINAPI_FAMILY_SYSTEM        4
#define WINAPI_FAMILY_SERVER        5
#define WINAPI_FAMILY_DESKTOP_APP   100
#define WINAPI_FAMILY_APP           WINAPI_FAMILY_PC_APP
#ifndef WINAPI_FAMILY
#define WINAPI_FAMILY WINAPI_FAMILY_DESKTOP_APP
#endif
#define WINAPI_PARTITION_DESKTOP    1
#define WINAPI_PARTITION_APP        1
#define WINAPI_PARTITION_PC_APP     1
#define WINAPI_PARTITION_PHONE_APP  0
#define WINAPI_PARTITION_SYSTEM     1
#define WINAPI_PARTITION_SERVER     0
#define WINAPI_PARTITION_TV_APP     0
#define WINAPI_PARTITION_TV_TITLE   0
#define WINAPI_PARTITION_GAMES      1
#define WINAPI_FAMILY_PARTITION(Partitions) (Partitions)
#define WINAPI_FAMILY_ONE_PARTITION(PartitionSet, Partition) ((PartitionSet) == (Partition))
#endif
