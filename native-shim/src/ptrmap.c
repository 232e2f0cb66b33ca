/*
 * Open-addressing pointer map (see ptrmap.h).  Invariant: every entry sits in the probe run
 * that starts at its home slot, with no empty slot in between.
 */
#include "ptrmap.h"

#include <stdlib.h>

static size_t home(const struct ptrmap *m, uint8_t ns, uint64_t key)
{
	uint64_t h = (key ^ ((uint64_t)ns << 56)) * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 17) & (m->cap - 1);
}

static int grow(struct ptrmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct ptr_entry *old = m->slots;
	size_t ocap = m->cap;
	struct ptr_entry *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -1;
	m->slots = ns;
	m->cap = ncap;
	m->count = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].ns)
			ptrmap_put(m, old[i].ns, old[i].key, old[i].dev, old[i].bytes, old[i].kind);
	free(old);
	return 0;
}

int ptrmap_put(struct ptrmap *m, uint8_t ns, uint64_t key, int32_t dev, uint64_t bytes, uint8_t kind)
{
	size_t i;

	if ((m->count + 1) * 2 > m->cap && grow(m))
		return -1;
	for (i = home(m, ns, key);; i = (i + 1) & (m->cap - 1)) {
		struct ptr_entry *e = &m->slots[i];

		if (!e->ns || (e->ns == ns && e->key == key)) {
			if (!e->ns)
				m->count++;
			e->ns = ns;
			e->key = key;
			e->dev = dev;
			e->bytes = bytes;
			e->kind = kind;
			return 0;
		}
	}
}

int ptrmap_take(struct ptrmap *m, uint8_t ns, uint64_t key, struct ptr_entry *out)
{
	size_t mask = m->cap - 1, i, j;

	if (!m->cap)
		return -1;
	for (i = home(m, ns, key);; i = (i + 1) & mask) {
		if (!m->slots[i].ns)
			return -1;
		if (m->slots[i].ns == ns && m->slots[i].key == key)
			break;
	}
	*out = m->slots[i];
	m->slots[i].ns = 0;
	m->count--;
	/* backward shift: move later entries of the run into the hole when their home allows it */
	for (j = (i + 1) & mask; m->slots[j].ns; j = (j + 1) & mask) {
		size_t h = home(m, m->slots[j].ns, m->slots[j].key);

		/* the entry at j may move to i if i lies cyclically in [h, j) */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j].ns = 0;
			i = j;
		}
	}
	return 0;
}

void ptrmap_clear(struct ptrmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
}
