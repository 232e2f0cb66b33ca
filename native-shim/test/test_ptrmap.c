/* The pointer map against a plain array model, through growth and deletions. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ptrmap.h"

#define N 5000

int main(void)
{
	static uint64_t model[N];
	struct ptrmap m;
	struct ptr_entry e;
	uint64_t seed = 12345;
	int mismatches = 0;

	memset(&m, 0, sizeof(m));
	CHECK(ptrmap_take(&m, PTR_NS_DEVPTR, 42, &e) == -1);
	for (int i = 0; i < N; i++)
		CHECK(ptrmap_put(&m, PTR_NS_DEVPTR, 0x7f0000000000ULL + (uint64_t)i * 0x200000, 0, (uint64_t)i + 1, 1) == 0);
	for (int i = 0; i < N; i++)
		model[i] = (uint64_t)i + 1;
	CHECK(m.count == N);
	/* the same value in another namespace is another key */
	CHECK(ptrmap_put(&m, PTR_NS_VMM, 0x7f0000000000ULL, 1, 99, 4) == 0);
	CHECK(ptrmap_take(&m, PTR_NS_VMM, 0x7f0000000000ULL, &e) == 0 && e.bytes == 99 && e.dev == 1);
	/* random deletions and re-insertions */
	for (int round = 0; round < 20000; round++) {
		int i;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (int)((seed >> 33) % N);
		if (model[i]) {
			if (ptrmap_take(&m, PTR_NS_DEVPTR, 0x7f0000000000ULL + (uint64_t)i * 0x200000, &e) != 0 ||
			    e.bytes != model[i])
				mismatches++;
			model[i] = 0;
		} else {
			model[i] = (uint64_t)round + 7;
			ptrmap_put(&m, PTR_NS_DEVPTR, 0x7f0000000000ULL + (uint64_t)i * 0x200000, 0, model[i], 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int r = ptrmap_take(&m, PTR_NS_DEVPTR, 0x7f0000000000ULL + (uint64_t)i * 0x200000, &e);

		if (model[i] ? (r != 0 || e.bytes != model[i]) : r != -1)
			mismatches++;
	}
	CHECK(mismatches == 0);
	CHECK(m.count == 0);
	ptrmap_clear(&m);
	return check_done();
}
