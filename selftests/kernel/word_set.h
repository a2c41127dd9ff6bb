/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A set of nonzero 64-bit words (open addressing, grows as needed), for the
 * scanners that look for windows of key bytes.  Zero marks an empty slot:
 * eight zero bytes are never secret, so they are not stored.
 */
#ifndef _QKD_WORD_SET_H
#define _QKD_WORD_SET_H

#include <stddef.h>
#include <stdint.h>

void word_set_add(uint64_t w);
int word_set_has(uint64_t w);
size_t word_set_count(void);

#endif
