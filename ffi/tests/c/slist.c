/* Interlocked SLists: the Windows x64 header and entry (16 bytes, 16-byte
 * aligned; depth in the header's first word, the first entry in its second),
 * push/pop order and return values, flush, QueryDepthSList, and many threads
 * pushing and popping a shared pool without losing or duplicating an entry. */
#include <windows.h>
#include "check.h"

typedef struct item {
    SLIST_ENTRY entry; /* first, as Windows programs put it */
    int id;
    volatile LONG owners;
} item;

static SLIST_HEADER head;

static void test_basics(void) {
    CHECK_EQ(sizeof(SLIST_HEADER), 16);
    CHECK_EQ(sizeof(SLIST_ENTRY), 16);
    CHECK_EQ(__alignof__(SLIST_HEADER), 16);
    CHECK_EQ(__alignof__(SLIST_ENTRY), 16);
    CHECK_EQ((ULONG_PTR)&head % 16, 0);
    memset(&head, 0x5A, sizeof head);
    InitializeSListHead(&head);
    CHECK_EQ(QueryDepthSList(&head), 0);
    CHECK(InterlockedPopEntrySList(&head) == NULL);
    CHECK(InterlockedFlushSList(&head) == NULL);

    static item it[3];
    for (int i = 0; i < 3; i++) it[i].id = i;
    CHECK(InterlockedPushEntrySList(&head, &it[0].entry) == NULL);
    CHECK(InterlockedPushEntrySList(&head, &it[1].entry) == &it[0].entry);
    CHECK(InterlockedPushEntrySList(&head, &it[2].entry) == &it[1].entry);
    CHECK_EQ(QueryDepthSList(&head), 3);
    /* Windows x64 layout: depth in bits 0-15, the first entry's address. */
    CHECK_EQ(head.HeaderX64.Depth, 3);
    CHECK_EQ(head.Alignment & 0xFFFF, 3);
    CHECK_EQ(head.Region & ~(ULONGLONG)0xF, (ULONGLONG)(ULONG_PTR)&it[2].entry);
    CHECK_EQ((ULONGLONG)head.HeaderX64.NextEntry << 4, (ULONGLONG)(ULONG_PTR)&it[2].entry);
    /* LIFO. */
    CHECK(InterlockedPopEntrySList(&head) == &it[2].entry);
    CHECK_EQ(QueryDepthSList(&head), 2);
    CHECK(it[1].entry.Next == &it[0].entry);
    /* Flush: the whole chain, the list empty. */
    PSLIST_ENTRY chain = InterlockedFlushSList(&head);
    CHECK(chain == &it[1].entry);
    CHECK(chain->Next == &it[0].entry);
    CHECK(chain->Next->Next == NULL);
    CHECK_EQ(QueryDepthSList(&head), 0);
    CHECK(InterlockedPopEntrySList(&head) == NULL);
    /* Entries in a heap block (16-byte aligned) work too. */
    item *h = (item *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(item));
    CHECK(InterlockedPushEntrySList(&head, &h->entry) == NULL);
    CHECK(InterlockedPopEntrySList(&head) == &h->entry);
    CHECK(HeapFree(GetProcessHeap(), 0, h));
}

/* ---- many threads over one pool ---- */

enum { ITEMS = 512, THREADS = 4, ROUNDS = 20000 };
static item pool[ITEMS];
static volatile LONG dup;

static DWORD WINAPI churn(LPVOID p) {
    (void)p;
    item *mine[8];
    for (int r = 0; r < ROUNDS; r++) {
        int n = 0;
        for (int k = 0; k < 8; k++) {
            PSLIST_ENTRY e = InterlockedPopEntrySList(&head);
            if (!e) break;
            item *it = (item *)e;
            if (InterlockedIncrement(&it->owners) != 1) InterlockedIncrement(&dup);
            mine[n++] = it;
        }
        for (int k = 0; k < n; k++) {
            InterlockedDecrement(&mine[k]->owners);
            InterlockedPushEntrySList(&head, &mine[k]->entry);
        }
    }
    return 0;
}

static void test_threads(void) {
    InitializeSListHead(&head);
    for (int i = 0; i < ITEMS; i++) {
        pool[i].id = i;
        InterlockedPushEntrySList(&head, &pool[i].entry);
    }
    CHECK_EQ(QueryDepthSList(&head), ITEMS);
    HANDLE t[THREADS];
    for (int i = 0; i < THREADS; i++) t[i] = CreateThread(NULL, 0, churn, NULL, 0, NULL);
    CHECK_EQ(WaitForMultipleObjects(THREADS, t, TRUE, 60000), WAIT_OBJECT_0);
    for (int i = 0; i < THREADS; i++) CHECK(CloseHandle(t[i]));
    CHECK_EQ(dup, 0);
    CHECK_EQ(QueryDepthSList(&head), ITEMS);
    /* Every item is back exactly once. */
    static int seen[ITEMS];
    int n = 0;
    for (PSLIST_ENTRY e = InterlockedFlushSList(&head); e; e = e->Next) {
        item *it = (item *)e;
        CHECK(it >= pool && it < pool + ITEMS);
        CHECK_EQ(seen[it->id], 0);
        seen[it->id] = 1;
        n++;
    }
    CHECK_EQ(n, ITEMS);
    CHECK_EQ(QueryDepthSList(&head), 0);
}

int main(void) {
    test_basics();
    test_threads();
    printf("slist: ok\n");
    return 0;
}
